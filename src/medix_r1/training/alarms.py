"""Reward-hacking alarms: patterns in the per-step metrics that the paper warns about.

MediX-R1's ablations (reference section 3, "why composite") saw single-signal runs jump suddenly to
0.6-0.65 and stop improving, while the composite rose smoothly. The alarms watch for the ways the
signals can come apart:

* ``format_saturation``: the format reward is (nearly) always earned while the accuracy rewards stay
  flat: the policy learned the tags, not the answers.
* ``component_jump``: one reward component moves by a large amount within six steps (the sudden
  jumps of the single-signal runs), while the overall reward does not follow it as much.
* ``length_collapse``: the mean response length falls below a share of its early level (the policy
  stops reasoning, e.g. empty thinking blocks that still earn the format reward).
* ``judge_embed_divergence``: the judge's accuracy climbs while the embedding accuracy falls (the
  policy pleases the judge with answers that no longer resemble the reference).
* ``judge_failures``: the judge fails on more than a small share of its requests.

:class:`AlarmMonitor` is fed one metrics row per step (the keys TRL logs) and returns the alarms
that start firing at that step; each kind fires again only after ``window`` quiet steps.

>>> m = AlarmMonitor(window=4)
>>> rows = [{"rewards/format/mean": 1.0, "rewards/accuracy_llm/mean": 0.2,
...          "rewards/accuracy_embed/mean": 0.1, "completions/mean_length": 30.0} for _ in range(4)]
>>> [a.kind for row in rows for a in m.update(row)]
['format_saturation']
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from medix_r1.training.metrics import COMPONENT_KEYS, LENGTH_KEY, OVERALL_KEY

__all__ = ["Alarm", "AlarmMonitor", "scan_metrics"]


@dataclass(frozen=True)
class Alarm:
    """One alarm: what fired, at which step, and a sentence saying what it means and what to check."""

    kind: str
    step: int
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mean(values: Sequence[float]) -> float:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


class AlarmMonitor:
    """Stateful checker over a stream of metric rows (one per step)."""

    def __init__(
        self,
        *,
        window: int = 10,
        format_saturation: float = 0.95,
        accuracy_flat: float = 0.02,
        jump: float = 0.3,
        length_collapse: float = 0.5,
        judge_failure_rate: float = 0.05,
    ) -> None:
        if window < 2:
            raise ValueError(f"window must be at least 2 steps, got {window}")
        self.window = window
        self.format_saturation = format_saturation
        self.accuracy_flat = accuracy_flat
        self.jump = jump
        self.length_collapse = length_collapse
        self.judge_failure_rate = judge_failure_rate
        self.history: list[dict[str, float]] = []
        self._last_fired: dict[str, int] = {}
        self.fired: list[Alarm] = []

    @classmethod
    def from_config(cls, section: Any) -> AlarmMonitor:
        return cls(
            window=section.window,
            format_saturation=section.format_saturation,
            accuracy_flat=section.accuracy_flat,
            jump=section.jump,
            length_collapse=section.length_collapse,
            judge_failure_rate=section.judge_failure_rate,
        )

    def _series(self, key: str, last: int | None = None) -> list[float]:
        rows = self.history if last is None else self.history[-last:]
        return [
            float(r[key]) for r in rows if key in r and r[key] is not None and not math.isnan(float(r[key]))
        ]

    def _fire(self, kind: str, step: int, message: str, out: list[Alarm]) -> None:
        last = self._last_fired.get(kind)
        if last is not None and step - last <= self.window:
            self._last_fired[kind] = step  # still firing: stay quiet, extend the quiet period
            return
        self._last_fired[kind] = step
        alarm = Alarm(kind, step, message)
        out.append(alarm)
        self.fired.append(alarm)

    def update(self, row: dict[str, Any]) -> list[Alarm]:
        """Add one step's metrics; return the alarms that start at this step."""
        step = int(row.get("step", len(self.history) + 1))
        self.history.append({k: v for k, v in row.items() if isinstance(v, (int, float))})
        out: list[Alarm] = []
        w = self.window

        # Format saturated over the window while accuracy stayed flat over a longer span (up to 3 windows:
        # a healthy composite run gains accuracy slowly, ~0.001 per step in the paper).
        fmt = self._series(COMPONENT_KEYS["format"], w)
        acc_llm = self._series(COMPONENT_KEYS["accuracy_llm"], 3 * w)
        acc_emb = self._series(COMPONENT_KEYS["accuracy_embed"], 3 * w)
        if len(fmt) >= w and (acc_llm or acc_emb) and _mean(fmt) >= self.format_saturation:
            acc = [_mean(pair) for pair in zip(acc_llm or acc_emb, acc_emb or acc_llm, strict=False)]
            half = len(acc) // 2
            change = _mean(acc[half:]) - _mean(acc[:half]) if half else 0.0
            if change < self.accuracy_flat and _mean(acc) < 0.9:
                self._fire(
                    "format_saturation",
                    step,
                    f"format reward {_mean(fmt):.2f} over the last {w} steps while accuracy changed by "
                    f"{change:+.3f} over the last {len(acc)} steps (mean {_mean(acc):.2f}): the policy has learned "
                    "the tags, not the answers. Check sample completions; consider a lower format weight or more "
                    "accuracy signal.",
                    out,
                )
        acc_llm = acc_llm[-w:]
        acc_emb = acc_emb[-w:]

        # A sudden jump in one component: the mean of the last 3 steps against the 3 before (less noisy
        # than step to step), when the overall reward follows it much less.
        if len(self.history) >= 6:
            overall = self._series(OVERALL_KEY, 6)
            overall_move = abs(_mean(overall[3:]) - _mean(overall[:3])) if len(overall) == 6 else 0.0
            for name, key in COMPONENT_KEYS.items():
                series = self._series(key, 6)
                if len(series) < 6:
                    continue
                before, after = _mean(series[:3]), _mean(series[3:])
                move = after - before
                if abs(move) >= self.jump and abs(move) > 2 * overall_move:
                    self._fire(
                        f"component_jump:{name}",
                        step,
                        f"{name} reward moved {move:+.2f} within 6 steps ({before:.2f} -> {after:.2f}, 3-step "
                        f"means) while the overall reward moved {overall_move:.2f}: a sudden jump in one signal is "
                        "how reward hacking looked in the paper's single-signal runs. Inspect completions.",
                        out,
                    )

        # Response length collapsing against its early level.
        lengths = self._series(LENGTH_KEY)
        if len(lengths) >= w + 2:
            early = _mean(lengths[:w])
            recent = _mean(lengths[-max(2, w // 4) :])
            if early > 0 and recent < self.length_collapse * early:
                self._fire(
                    "length_collapse",
                    step,
                    f"mean response length fell to {recent:.1f} tokens from {early:.1f} early in the run "
                    f"(below {self.length_collapse:.0%}): the policy may be dropping its reasoning. "
                    "Check that thinking blocks are not empty.",
                    out,
                )

        # Judge accuracy rising while embedding accuracy falls.
        if len(acc_llm) >= w and len(acc_emb) >= w:
            half = w // 2
            d_llm = _mean(acc_llm[half:]) - _mean(acc_llm[:half])
            d_emb = _mean(acc_emb[half:]) - _mean(acc_emb[:half])
            if d_llm >= 0.1 and d_emb <= -0.05:
                self._fire(
                    "judge_embed_divergence",
                    step,
                    f"judge accuracy rose {d_llm:+.2f} while embedding accuracy fell {d_emb:+.2f} over {w} steps: "
                    "the policy may be pleasing the judge with answers unlike the references.",
                    out,
                )

        # Judge failures.
        requests = row.get("judge/requests")
        failures = row.get("judge/failures")
        if requests and failures is not None and failures / max(requests, 1) > self.judge_failure_rate:
            self._fire(
                "judge_failures",
                step,
                f"the judge failed {failures:.0f} of {requests:.0f} requests this step: check the judge server.",
                out,
            )
        return out


def scan_metrics(rows: Iterable[dict[str, Any]], **options: Any) -> list[Alarm]:
    """Every alarm a whole metric stream raises (used by reports and tests)."""
    monitor = AlarmMonitor(**options)
    alarms: list[Alarm] = []
    for row in rows:
        alarms.extend(monitor.update(row))
    return alarms
