"""The GPU-free in-process path: a tiny random Qwen2-VL answers the offline mini-suite."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers", reason="the in-process backend needs the train extra")


@pytest.mark.slow
def test_tiny_vlm_runs_the_mini_suite(tmp_path):
    from medix_r1.data import build_samples
    from medix_r1.evaluation import (
        JudgeProtocol,
        TransformersGenerator,
        fake_judge_reply,
        mini_suite,
        run_eval,
    )
    from medix_r1.judges.fake import FakeChatBackend
    from medix_r1.models import tiny_vlm_dir

    build_samples(tmp_path / "samples")
    tasks = mini_suite(tmp_path / "samples")
    model_dir = tiny_vlm_dir("qwen2-vl", cache_dir=tmp_path / "cache")
    generator = TransformersGenerator(str(model_dir), max_new_tokens=6)
    judge = JudgeProtocol(FakeChatBackend(fake_judge_reply), model="fake-judge")
    result = run_eval(
        "tiny-qwen2-vl", tasks, tmp_path / "out", generator=generator, judge=judge, limit=1, reports=False
    )
    assert result.summary.generated == len(tasks) == 7 and result.summary.judged == 7
    rows = [json.loads(x) for x in result.paths.judgements.read_text().splitlines()]
    assert all(r["image"].endswith(".png") and isinstance(r["response"], str) for r in rows)
    assert set(result.scores.tasks) == {t.name for t in tasks} and result.scores.missing == []
    # resuming loads nothing and generates nothing
    again = run_eval(
        "tiny-qwen2-vl", tasks, tmp_path / "out", generator=generator, judge=judge, limit=1, reports=False
    )
    assert again.summary.generated == 0 and again.scores.overall == result.scores.overall


@pytest.mark.slow
def test_medix_prompt_asks_a_run_checkpoint_in_its_training_layout(tmp_path, monkeypatch):
    import shutil

    import yaml

    from medix_r1.data import build_samples
    from medix_r1.evaluation import (
        JudgeProtocol,
        StaleResultsError,
        TransformersGenerator,
        build_messages,
        fake_judge_reply,
        mini_suite,
        run_eval,
    )
    from medix_r1.judges.fake import FakeChatBackend
    from medix_r1.models import generation, tiny_vlm_dir
    from medix_r1.models.runs import run_instruction
    from medix_r1.parsing import THINK
    from medix_r1.prompting import COMPACT_TEMPLATE, instruction_text

    build_samples(tmp_path / "samples")
    tasks = mini_suite(tmp_path / "samples")
    run = tmp_path / "run"
    shutil.copytree(tiny_vlm_dir("qwen2-vl", cache_dir=tmp_path / "cache"), run / "final")
    config = {"prompt": {"template": COMPACT_TEMPLATE}, "reward": {"preset": "medix-r1-think"}}
    (run / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")

    instruction = run_instruction(str(run))
    assert instruction.template == COMPACT_TEMPLATE and instruction.fmt == THINK
    seen: list[dict] = []
    real = generation.generate_batch
    monkeypatch.setattr(
        generation, "generate_batch", lambda m, p, rows, **kw: seen.extend(rows) or real(m, p, rows, **kw)
    )
    generator = TransformersGenerator(str(run), max_new_tokens=4, instruction=instruction)
    judge = JudgeProtocol(FakeChatBackend(fake_judge_reply), model="fake-judge")
    result = run_eval(
        "tiny-run", tasks, tmp_path / "out", generator=generator, judge=judge, limit=1, reports=False
    )
    assert result.summary.generated == 7 and len(seen) == 7
    for row in seen:
        content = row["prompt"][0]["content"]
        assert [p["type"] for p in content] == ["text", "image", "text"] and len(row["images"]) == 1
        assert content[0]["text"] == instruction_text(THINK, COMPACT_TEMPLATE)
    # The endpoint layout is the same, with the image as a data URL.
    [sample] = tasks[0].samples(limit=1)
    assert sample.image is not None
    parts = build_messages(sample, instruction=instruction)[0]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "text"]
    assert parts[1]["image_url"]["url"].startswith("data:image/")
    # A run folder made with the plain prompt is not silently mixed with this one.
    plain = TransformersGenerator(str(run), max_new_tokens=4)
    with pytest.raises(StaleResultsError):
        run_eval("tiny-run", tasks, tmp_path / "out", generator=plain, judge=judge, limit=1, reports=False)
