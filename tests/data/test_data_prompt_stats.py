"""Prompt-token budget with a real (tiny, local) tokenizer and Qwen-VL image processor; stats; CLI."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from medix_r1.cli.data import app
from medix_r1.data.contamination import find_contamination, normalize_question
from medix_r1.data.io import load_records
from medix_r1.data.prompt_length import ProcessorLoadError, load_prompt_counter
from medix_r1.data.stats import dataset_stats, plot_stats
from medix_r1.data.validate import validate_file


@pytest.fixture(scope="module")
def processor_dir(tmp_path_factory):
    """A word-level tokenizer plus a default Qwen2-VL image processor, saved like a model folder."""
    pytest.importorskip("transformers", reason="needs the train extra: pip install 'medix-r1[train]'")
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil

    folder = tmp_path_factory.mktemp("proc")
    vocab = {
        w: i for i, w in enumerate(["[UNK]", "which", "modality", "?", "<|vision_start|>", "<|vision_end|>"])
    }
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(folder)
    Qwen2VLImageProcessorPil().save_pretrained(folder)
    return folder


def _write(tmp_path, size):
    from PIL import Image

    (tmp_path / "images").mkdir(exist_ok=True)
    Image.new("RGB", size).save(tmp_path / "images" / "a.png")
    path = tmp_path / "t.jsonl"
    path.write_text(
        json.dumps(
            {
                "id": "p1",
                "image": ["images/a.png"],
                "source": "s",
                "problem": "<image>\nwhich modality ?",
                "solution": "<CT_SCAN> CT",
            }
        )
        + "\n"
    )
    return path


def test_qwen_grid_counts(processor_dir):
    counter = load_prompt_counter(processor_dir)
    # (224/14) * (224/14) / 4 merged patches; 448x448 is four times that.
    assert counter.image_tokens(224, 224) == 64
    assert counter.image_tokens(448, 448) == 256
    # 3 words + 64 image tokens + vision start/end markers.
    assert counter.count("<image>\nwhich modality ?", [(224, 224)]) == 69


def test_long_prompt_is_flagged(tmp_path, processor_dir):
    path = _write(tmp_path, (448, 448))
    counter = load_prompt_counter(processor_dir)
    report = validate_file(path, counter=counter, max_prompt_tokens=100)
    assert [(p.row, p.field, p.code) for p in report.problems] == [
        ("line 1 (id 'p1')", "problem", "prompt_too_long")
    ]
    assert report.problems[0].message.startswith(
        "prompt is 261 tokens with its 1 image(s) counted, above the limit of 100"
    )
    assert validate_file(path, counter=counter, max_prompt_tokens=261).ok
    result = CliRunner().invoke(
        app, ["validate", str(path), "--processor", str(processor_dir), "--max-prompt-tokens", "100"]
    )
    assert result.exit_code == 1 and "[prompt_too_long]" in result.output


def test_processor_errors(tmp_path):
    with pytest.raises(ProcessorLoadError, match="not a folder"):
        load_prompt_counter(tmp_path / "none")
    result = CliRunner().invoke(app, ["validate", "x.jsonl", "--max-prompt-tokens", "10"])
    assert result.exit_code == 2 and "needs --processor" in result.output


def test_stats_of_the_sample_set(samples, tmp_path):
    stats = dataset_stats(load_records(samples.test_path))
    assert stats.records == 92
    assert stats.by_modality["<MRI_SCAN>"] == 36 and stats.images_per_record == {1: 92}
    chart = plot_stats(stats, tmp_path / "c.png")
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = CliRunner().invoke(app, ["stats", str(samples.test_path), "--chart", str(tmp_path / "d.png")])
    assert (
        result.exit_code == 0 and "<FUNDUS_PHOTOGRAPHY>" in result.output and (tmp_path / "d.png").is_file()
    )


def test_stats_refuses_bad_data(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"id": "a"}\n')
    result = CliRunner().invoke(app, ["stats", str(path)])
    assert result.exit_code == 1 and "line 1 (id 'a'), field 'image': missing required field" in result.output


def test_contamination_finds_copied_items(samples, tmp_path):
    train = load_records(samples.train_path)
    leaked = [r for r in train[:3]]
    report = find_contamination(train, samples.root, {"eval": (leaked, samples.root)})
    assert [(m.eval_id, m.kind) for m in report.matches] == [(r.id, "question+image") for r in leaked]
    assert normalize_question("<image>\nWHAT is shown?!") == "what is shown"
    # Through the CLI: a test file that reuses training images exits 1.
    (tmp_path / "images").mkdir()
    for r in leaked:
        shutil.copy(samples.root / r.image[0], tmp_path / r.image[0])
    bad = tmp_path / "eval.jsonl"
    bad.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in leaked))
    result = CliRunner().invoke(app, ["contamination", str(samples.train_path), "--against", str(bad)])
    assert result.exit_code == 1 and "question+image" in result.output


def test_build_samples_cli(tmp_path, samples):
    result = CliRunner().invoke(app, ["build-samples", str(samples.root), "--reuse"])
    assert result.exit_code == 0, result.output
    assert "366 train + 92 test records, 168 images, 7 modality tags" in result.output
