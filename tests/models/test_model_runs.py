"""A training run folder (`medix-r1 chat --model runs/x`) means the run's final model."""

from __future__ import annotations

from medix_r1.models.runs import run_checkpoint


def test_run_folder_means_its_final_model(tmp_path) -> None:
    run = tmp_path / "run"
    (run / "final").mkdir(parents=True)
    assert run_checkpoint(str(run)) == str(run)  # no model yet: left as given
    (run / "final" / "config.json").write_text("{}")
    assert run_checkpoint(str(run)) == str(run / "final")
    assert run_checkpoint(str(run / "final")) == str(run / "final")
    assert run_checkpoint("tiny-qwen2-vl") == "tiny-qwen2-vl"
