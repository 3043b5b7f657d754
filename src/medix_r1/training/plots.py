"""``reward_curves.png``: overall and per-component reward, response length, and step time split.

Drawn with matplotlib's Agg backend (no display needed) from the rows of ``metrics.jsonl``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medix_r1.training.metrics import reward_metric_key

__all__ = ["plot_reward_curves", "smooth"]

_COMPONENTS = (
    (reward_metric_key("format"), "format"),
    (reward_metric_key("accuracy_llm"), "accuracy (judge)"),
    (reward_metric_key("accuracy_embed"), "accuracy (embedding)"),
    (reward_metric_key("modality"), "modality"),
)


def smooth(values: Sequence[float], window: int) -> list[float]:
    """Trailing moving average (the first points average what exists so far).

    >>> smooth([0, 2, 4, 6], 2)
    [0.0, 1.0, 3.0, 5.0]
    """
    out = []
    for i in range(len(values)):
        chunk = values[max(0, i - window + 1) : i + 1]
        out.append(sum(chunk) / len(chunk))
    return out


def _series(rows: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    steps, values = [], []
    for row in rows:
        value = row.get(key)
        if isinstance(value, (int, float)):
            steps.append(int(row["step"]))
            values.append(float(value))
    return steps, values


def plot_reward_curves(
    rows: list[dict[str, Any]], path: str | Path, *, title: str = "", alarms: Sequence[Any] = ()
) -> Path:
    """Write the figure; returns its path. Raw values are faint, a moving average is drawn over them."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    path = Path(path)
    window = max(1, len(rows) // 15)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    ax = axes[0]
    steps, values = _series(rows, "reward")
    if values:
        ax.plot(steps, values, color="black", alpha=0.25, lw=1)
        ax.plot(steps, smooth(values, window), color="black", lw=2, label="overall")
    for key, label in _COMPONENTS:
        s, v = _series(rows, key)
        if v:
            ax.plot(s, smooth(v, window), lw=1.5, label=label)
    for alarm in alarms:
        step = alarm.step if hasattr(alarm, "step") else alarm.get("step")
        ax.axvline(step, color="red", ls=":", lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("mean reward")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("reward (overall and components)")
    ax.legend(fontsize=8, loc="best")
    ax = axes[1]
    s, v = _series(rows, "completions/mean_length")
    if v:
        ax.plot(s, v, color="tab:purple", alpha=0.3)
        ax.plot(s, smooth(v, window), color="tab:purple", lw=2)
    ax.set_xlabel("step")
    ax.set_ylabel("tokens")
    ax.set_title("mean response length")
    ax = axes[2]
    for key, label, color in (
        ("timing/generation_s", "generation", "tab:blue"),
        ("timing/reward_s", "reward", "tab:orange"),
        ("timing/step_s", "whole step", "tab:gray"),
    ):
        s, v = _series(rows, key)
        if v:
            ax.plot(s, smooth(v, window), label=label, color=color)
    ax.set_xlabel("step")
    ax.set_ylabel("seconds")
    ax.set_title("time per step")
    ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
