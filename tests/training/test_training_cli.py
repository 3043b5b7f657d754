"""The train / quickstart / chat commands: thin layers over the library, exit codes, messages; and the
quickstart's pieces at toy scale (the full run is `make demo`)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from medix_r1.cli import app

runner = CliRunner()


def test_list_presets():
    result = runner.invoke(app, ["train", "--list-presets"])
    assert result.exit_code == 0, result.output
    for name in (
        "medix-r1-2b-dapo",
        "medix-r1-8b-dapo",
        "medix-r1-8b-grpo",
        "medix-r1-30b-dapo",
        "qwen2.5-vl-7b-gspo",
        "quickstart",
    ):
        assert name in result.output


def test_show_config_applies_overrides():
    result = runner.invoke(app, ["train", "medix-r1-8b-dapo", "rollout.group_size=8", "--show-config"])
    assert result.exit_code == 0, result.output
    assert "group_size: 8" in result.output and "name: Qwen/Qwen3-VL-8B-Instruct" in result.output


def test_bad_key_exits_2_with_a_suggestion():
    result = runner.invoke(app, ["train", "quickstart", "optim.learning_rat=1"])
    assert result.exit_code == 2
    assert "did you mean 'optim.learning_rate'" in result.output


def test_explain_lists_every_key_with_help():
    result = runner.invoke(app, ["train", "--explain"])
    assert result.exit_code == 0
    assert "algorithm.filter_high" in result.output and "mean overall reward" in result.output


def test_verl_backend_prints_the_command(sample_files, tmp_path):
    train, test = sample_files
    result = runner.invoke(
        app,
        [
            "train",
            "medix-r1-8b-dapo",
            f"data.train={train}",
            f"data.eval={test}",
            "data.max_train_records=2",
            "data.max_eval_records=2",
            "data.train_split=null",
            "data.eval_split=null",
            f"checkpoint.output_dir={tmp_path / 'v'}",
            "--backend",
            "verl",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "verl.trainer.main_ppo" in result.output and "verl run prepared" in result.output
    assert (tmp_path / "v" / "launch.sh").is_file()


@pytest.mark.slow
def test_chat_parses_the_reply(tiny_model_dir, sample_files):
    pytest.importorskip("trl")
    from medix_r1.data import load_records

    record = load_records(sample_files[1])[0]
    result = runner.invoke(
        app,
        [
            "chat",
            "--model",
            str(tiny_model_dir),
            "--image",
            record.image[0],
            "--max-new-tokens",
            "8",
            "--json",
            record.question,
        ],
    )
    assert result.exit_code == 0, result.output
    # stderr (the weight-loading bar) shares the captured output; the JSON is the last object in it
    reply = json.loads(result.output[result.output.rindex('{"modality"') :].strip())
    assert set(reply) == {"modality", "reasoning", "answer", "well_formed", "raw"}
    assert reply["well_formed"] is False  # a random tiny model does not write the format


@pytest.mark.slow
def test_quickstart_pieces_at_toy_scale(tiny_model_dir, sample_files, tmp_path):
    pytest.importorskip("trl")
    from medix_r1.training.quickstart import quickstart

    train, test = sample_files
    summary = quickstart(
        tmp_path / "qs",
        overrides=[
            f"model.name={tiny_model_dir}",
            f"data.train={train}",
            f"data.eval={test}",
            "reward.embedding_model=hashing",
            "warmstart.steps=2",
            "warmstart.batch_size=4",
            "schedule.max_steps=2",
            "rollout.prompts_per_step=2",
            "rollout.group_size=4",
            "optim.micro_batch_size=8",
            "optim.updates_per_step=1",
            "rollout.max_completion_length=8",
            "logging.console=false",
            "algorithm.beta=0.1",  # the KL reference must be the warm-started policy (checked below)
        ],
        heldout_limit=4,
        echo=lambda message: None,
    )
    for key in (
        "steps",
        "seconds",
        "reward_first",
        "reward_last",
        "heldout_before",
        "heldout_after",
        "heldout_warmstart",
        "heldout_majority",
        "train_after",
        "peak_memory_mb",
        "reward_share_of_step_time",
        "targets_met",
    ):
        assert key in summary, key
    assert summary["steps"] == 2
    assert set(summary["heldout_before"]) >= {"modality", "answer"}
    assert set(summary["train_after"]) >= {"modality", "answer"} and summary["train_after"]["n"] == 24
    assert 0 < summary["heldout_majority"] <= 1
    assert set(summary["targets_met"]) == {
        "time",
        "memory",
        "reward_rise",
        "modality_after",
        "modality_above_majority",
        "train_modality_after",
    }
    for name in ("metrics.jsonl", "reward_curves.png", "report.md", "summary.json"):
        assert (tmp_path / "qs" / name).is_file(), name
    report = (tmp_path / "qs" / "report.md").read_text()
    assert "About the warm-start" in report and "drawn at random" in report
    assert json.loads((tmp_path / "qs" / "summary.json").read_text())["steps"] == 2
    first = json.loads((tmp_path / "qs" / "metrics.jsonl").read_text().splitlines()[0])
    assert first["kl"] == pytest.approx(0.0, abs=1e-6)  # not the untrained model it was loaded as
