"""The end of a run: ``summary.json``, ``reward_curves.png`` and a short ``report.md``.

``summary.json`` always has ``steps``, ``seconds``, ``reward_first`` and ``reward_last`` (mean
overall reward of the first and last 10% of steps, at least one step each), the per-component means
over the same spans, the share of step time spent computing rewards, and the alarms. The quickstart
adds its held-out evaluations and peak memory through ``extra``.

>>> summarize_rewards([{"step": i, "reward": i / 10} for i in range(1, 11)])["reward_first"]
0.1
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medix_r1.training.metrics import COMPONENT_KEYS

__all__ = ["summarize_rewards", "write_run_outputs", "render_report"]


def _mean(values: Sequence[float]) -> float | None:
    values = [float(v) for v in values if isinstance(v, (int, float)) and not math.isnan(v)]
    return round(sum(values) / len(values), 4) if values else None


def summarize_rewards(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """First / last 10% means of the overall reward and components, and timing shares."""
    rows = [r for r in rows if isinstance(r.get("reward"), (int, float))]
    n = len(rows)
    span = max(1, round(n * 0.1)) if n else 0
    first, last = rows[:span], rows[n - span :] if n else []
    out: dict[str, Any] = {
        "reward_first": _mean([r["reward"] for r in first]),
        "reward_last": _mean([r["reward"] for r in last]),
        "span_steps": span,
        "components_first": {k: _mean([r.get(key) for r in first]) for k, key in COMPONENT_KEYS.items()},
        "components_last": {k: _mean([r.get(key) for r in last]) for k, key in COMPONENT_KEYS.items()},
        "mean_length_first": _mean([r.get("completions/mean_length") for r in first]),
        "mean_length_last": _mean([r.get("completions/mean_length") for r in last]),
    }
    gen = sum(r.get("timing/generation_s") or 0.0 for r in rows)
    rew = sum(r.get("timing/reward_s") or 0.0 for r in rows)
    step = sum(r.get("timing/step_s") or 0.0 for r in rows)
    out["time_generation_s"] = round(gen, 2)
    out["time_reward_s"] = round(rew, 2)
    out["time_steps_s"] = round(step, 2)
    out["reward_share_of_step_time"] = round(rew / step, 4) if step else None
    out["generation_share_of_step_time"] = round(gen / step, 4) if step else None
    return out


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def render_report(config: Any, summary: dict[str, Any], *, notes: Sequence[str] = ()) -> str:
    """The Markdown report of a run."""
    lines = [f"# Training report: {config.name}", ""]
    if config.description:
        lines += [config.description, ""]
    lines += [
        f"- model: `{config.model.name}`; algorithm: **{config.algorithm.name}** "
        f"(loss {config.algorithm.resolved_loss_type()}, beta {config.algorithm.beta}, clip "
        f"{config.algorithm.epsilon} / {config.algorithm.epsilon_high}, importance ratio per "
        f"{config.algorithm.resolved_sampling_level()}, dynamic filtering "
        f"{'on' if config.algorithm.name == 'dapo' and config.algorithm.dynamic_filtering else 'off'})",
        f"- reward: preset `{config.reward.preset}`, judge `{config.reward.judge}`, embedder "
        f"`{config.reward.embedding_model}`"
        + (f", weights overridden: {config.reward.weights}" if config.reward.weights else ""),
        f"- {config.rollout.prompts_per_step} prompts x {config.rollout.group_size} responses per step, "
        f"temperature {config.rollout.temperature}, at most {config.rollout.max_completion_length} new tokens",
        f"- steps: {summary.get('steps')}, wall time {_fmt(summary.get('seconds'), 1)} s",
    ]
    if config.differs:
        lines += ["", f"**Differs from the published recipe:** {config.differs}"]
    lines += [
        "",
        "## Reward",
        "",
        f"Mean overall reward over the first and last 10% of steps ({summary.get('span_steps')} step(s) each): "
        f"**{_fmt(summary.get('reward_first'))} -> {_fmt(summary.get('reward_last'))}**.",
        "",
        "| component | first 10% | last 10% |",
        "|---|---|---|",
    ]
    for name in COMPONENT_KEYS:
        lines.append(
            f"| {name} | {_fmt(summary['components_first'].get(name))} | {_fmt(summary['components_last'].get(name))} |"
        )
    lines += [
        f"| response length (tokens) | {_fmt(summary.get('mean_length_first'), 1)} | "
        f"{_fmt(summary.get('mean_length_last'), 1)} |",
        "",
        "![reward curves](reward_curves.png)",
        "",
        "## Time",
        "",
        f"Step time {_fmt(summary.get('time_steps_s'), 1)} s in all: generation {_fmt(summary.get('time_generation_s'), 1)} s "
        f"({_fmt(summary.get('generation_share_of_step_time'))} of it), reward {_fmt(summary.get('time_reward_s'), 1)} s "
        f"({_fmt(summary.get('reward_share_of_step_time'))} of it).",
    ]
    for key in ("peak_memory_mb",):
        if summary.get(key) is not None:
            lines.append(f"Peak memory (max RSS): {summary[key]:.0f} MB.")
    alarms = summary.get("alarms") or []
    lines += ["", "## Alarms", ""]
    if alarms:
        for alarm in alarms:
            lines.append(f"- step {alarm['step']} **{alarm['kind']}**: {alarm['message']}")
    else:
        lines.append(
            "None fired (format saturation with flat accuracy, component jumps, length collapse, "
            "judge/embedding divergence, judge failures)."
        )
    if notes:
        lines += [""] + list(notes)
    return "\n".join(lines) + "\n"


def write_run_outputs(
    config: Any,
    result: Any,
    *,
    extra: dict[str, Any] | None = None,
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """Write ``summary.json``, ``reward_curves.png`` and ``report.md`` into the run folder."""
    from medix_r1.training.plots import plot_reward_curves

    run_dir = Path(result.run_dir)
    alarms = [a.as_dict() if hasattr(a, "as_dict") else dict(a) for a in result.alarms]
    summary: dict[str, Any] = {"steps": result.steps, "seconds": round(result.seconds, 1)}
    summary.update(summarize_rewards(result.metrics))
    summary["alarms"] = alarms
    if getattr(result, "judge_prompt_hash", None):  # the key evaluation and reward rows use
        summary["judge_prompt_hash"] = result.judge_prompt_hash
    if extra:
        summary.update(extra)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    plot_reward_curves(result.metrics, run_dir / "reward_curves.png", title=config.name, alarms=result.alarms)
    (run_dir / "report.md").write_text(render_report(config, summary, notes=notes), encoding="utf-8")
    return summary
