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
    generator = TransformersGenerator(str(model_dir), max_tokens=6)
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
