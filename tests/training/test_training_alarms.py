"""Reward-hacking alarms on synthetic metric streams: each pattern fires once, at the step it becomes
visible; a healthy composite run (the paper's smooth rise) fires nothing."""

from __future__ import annotations

import math

import pytest

from medix_r1.training.alarms import AlarmMonitor, scan_metrics


def stream(n, **series):
    """Rows 1..n; each series is a function of the step (or a constant)."""
    rows = []
    for step in range(1, n + 1):
        row = {"step": step}
        for key, fn in series.items():
            name = {
                "fmt": "rewards/format/mean",
                "llm": "rewards/accuracy_llm/mean",
                "emb": "rewards/accuracy_embed/mean",
                "mod": "rewards/modality/mean",
                "length": "completions/mean_length",
                "overall": "reward",
                "requests": "judge/requests",
                "failures": "judge/failures",
            }[key]
            row[name] = fn(step) if callable(fn) else fn
        rows.append(row)
    return rows


def composite(fmt, llm, emb, mod):
    return 0.1 * fmt + 0.5175 * llm + 0.3375 * emb + 0.045 * mod


def healthy(step):
    # The paper's composite run: overall rising smoothly from ~0.35 to ~0.50 over the run.
    return 0.35 + 0.15 * step / 40


def test_healthy_run_fires_nothing():
    rows = stream(
        40,
        fmt=lambda s: min(1.0, 0.6 + 0.01 * s),
        llm=lambda s: 0.25 + 0.004 * s,
        emb=lambda s: 0.2 + 0.003 * s,
        mod=lambda s: 0.5 + 0.005 * s,
        length=lambda s: 200 + math.sin(s) * 10,
        overall=healthy,
        requests=64,
        failures=0,
    )
    assert scan_metrics(rows, window=10) == []


def test_format_saturation_with_flat_accuracy_fires_once_at_the_window():
    rows = stream(30, fmt=0.99, llm=0.2, emb=0.15, overall=composite(0.99, 0.2, 0.15, 0.5))
    alarms = scan_metrics(rows, window=10)
    assert [(a.kind, a.step) for a in alarms] == [("format_saturation", 10)]
    assert "format reward 0.99 over the last 10 steps" in alarms[0].message


def test_format_saturation_is_quiet_while_accuracy_rises():
    rows = stream(30, fmt=0.99, llm=lambda s: 0.2 + 0.02 * s, emb=lambda s: 0.1 + 0.02 * s)
    assert scan_metrics(rows, window=10) == []


def test_sudden_jump_in_one_component():
    # The judge component leaps from 0.1 to 0.65 at step 12 while the overall reward barely follows.
    rows = stream(
        20,
        llm=lambda s: 0.1 if s < 12 else 0.65,
        emb=0.3,
        fmt=0.8,
        overall=lambda s: 0.3 if s < 12 else 0.35,
    )
    alarms = scan_metrics(rows, window=10)
    assert [(a.kind, a.step) for a in alarms] == [("component_jump:accuracy_llm", 13)]


def test_length_collapse():
    rows = stream(24, length=lambda s: 180.0 if s <= 12 else 40.0, fmt=0.5, llm=lambda s: 0.02 * s)
    alarms = scan_metrics(rows, window=10)
    assert [(a.kind, a.step) for a in alarms] == [("length_collapse", 14)]  # two low steps, not one
    assert "fell to 40.0 tokens from 180.0" in alarms[0].message


def test_judge_embedding_divergence():
    rows = stream(12, llm=lambda s: 0.2 + 0.05 * s, emb=lambda s: 0.5 - 0.03 * s, fmt=0.5)
    kinds = [a.kind for a in scan_metrics(rows, window=10)]
    assert kinds == ["judge_embed_divergence"]


def test_judge_failures():
    rows = stream(3, requests=100, failures=lambda s: 0 if s < 3 else 20)
    alarms = scan_metrics(rows, window=4)
    assert [(a.kind, a.step) for a in alarms] == [("judge_failures", 3)]


def test_an_alarm_refires_only_after_a_quiet_window():
    m = AlarmMonitor(window=4, judge_failure_rate=0.05)
    steps = []
    for step in range(1, 16):
        failing = step <= 6 or step >= 12
        for alarm in m.update({"step": step, "judge/requests": 10, "judge/failures": 5 if failing else 0}):
            steps.append(alarm.step)
    assert steps == [1, 12]


def test_window_must_be_at_least_two():
    with pytest.raises(ValueError, match="at least 2"):
        AlarmMonitor(window=1)


def test_nan_values_are_ignored():
    rows = stream(12, fmt=float("nan"), llm=0.2, emb=0.1)
    assert scan_metrics(rows, window=10) == []
