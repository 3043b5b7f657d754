"""Per-step observability for TRL runs: ``metrics.jsonl``, one console line and a progress bar,
reward-hacking alarms, and a clean stop on an alarm when asked.

Each optimiser step TRL logs its metrics (``reward``, ``rewards/<component>/mean``, ``kl``,
``clip_ratio/...``, ``completions/mean_length``...) plus what :class:`MedixGRPOTrainer` adds
(``timing/generation_s``, ``timing/reward_s``, ``judge/latency_ms``, ``dapo/...``). The callback
writes each row to ``metrics.jsonl`` with ``step`` and ``time``, adds the wall-clock step time and
the share of it spent in the reward, feeds the alarms, and prints a compact line.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from medix_r1.training.alarms import Alarm, AlarmMonitor
from medix_r1.training.metrics import LENGTH_KEY, reward_metric_key

__all__ = ["MetricsCallback", "read_metrics", "truncate_metrics", "console_line"]

_SHORT = (
    ("reward", "R"),
    (reward_metric_key("format"), "fmt"),
    (reward_metric_key("accuracy_llm"), "llm"),
    (reward_metric_key("accuracy_embed"), "emb"),
    (reward_metric_key("modality"), "mod"),
    (LENGTH_KEY, "len"),
    ("kl", "kl"),
    ("timing/generation_s", "gen_s"),
    ("timing/reward_s", "rew_s"),
    ("timing/step_s", "step_s"),
)


def console_line(row: dict[str, Any]) -> str:
    """One compact line for a metrics row.

    >>> console_line({"step": 3, "reward": 0.41234, "rewards/format/mean": 1.0, "kl": 0.0})
    'step 3 | R 0.412 fmt 1.000 kl 0.000'
    """
    parts = [f"{short} {row[key]:.3f}" for key, short in _SHORT if isinstance(row.get(key), (int, float))]
    return f"step {row.get('step')} | " + " ".join(parts)


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``metrics.jsonl`` (a torn last line, from a killed run, is skipped)."""
    rows = []
    path = Path(path)
    if not path.is_file():
        return rows
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def truncate_metrics(path: str | Path, last_step: int) -> None:
    """Keep only rows up to ``last_step`` (a resumed run re-logs the steps after its checkpoint)."""
    path = Path(path)
    if not path.is_file():
        return
    rows = [r for r in read_metrics(path) if int(r.get("step", 0)) <= last_step]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


class MetricsCallback(TrainerCallback):
    """Writes ``metrics.jsonl``, shows progress, checks alarms (see module docstring)."""

    def __init__(
        self,
        run_dir: str | Path,
        *,
        monitor: AlarmMonitor | None = None,
        console: bool = True,
        stop_on_alarm: bool = False,
        updates_per_step: int = 1,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.metrics_path = self.run_dir / "metrics.jsonl"
        self.alarms_path = self.run_dir / "alarms.jsonl"
        self.monitor = monitor
        self.console = console
        self.stop_on_alarm = stop_on_alarm
        self.updates_per_step = updates_per_step
        self.rows: list[dict[str, Any]] = []
        self.alarms: list[Alarm] = []
        self._bar: Any = None
        self._last_log: float | None = None
        self._last_step = 0
        self._started = time.time()

    # ---- trainer events ----
    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._last_step = state.global_step // self.updates_per_step
        if self.console and state.is_world_process_zero:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=state.max_steps // self.updates_per_step,
                initial=self._last_step,
                desc="RL steps",
                unit="step",
                dynamic_ncols=True,
            )

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._last_log is None:
            self._last_log = time.perf_counter()

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if not logs or not state.is_world_process_zero:
            return
        if "reward" not in logs and "loss" not in logs:
            return  # the end-of-training summary, or an eval-only log
        if any(k.startswith("eval_") for k in logs):
            return
        # One row per RL step: TRL logs every `updates_per_step` optimiser updates (one generation).
        step = state.global_step // self.updates_per_step
        row: dict[str, Any] = {"step": step, "time": round(time.time() - self._started, 3)}
        row.update({k: _clean(v) for k, v in logs.items()})
        now = time.perf_counter()
        if self._last_log is not None:
            seconds = now - self._last_log
            row["timing/step_s"] = round(seconds, 4)
            reward_s = row.get("timing/reward_s")
            if isinstance(reward_s, (int, float)) and seconds > 0:
                row["timing/reward_share"] = round(reward_s / seconds, 4)
        self._last_log = now
        self.rows.append(row)
        with self.metrics_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        fired: list[Alarm] = self.monitor.update(row) if self.monitor is not None else []
        for alarm in fired:
            self.alarms.append(alarm)
            with self.alarms_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(alarm.as_dict()) + "\n")
        if self._bar is not None:
            self._bar.update(step - self._last_step)
            postfix = {
                short: f"{row[key]:.3f}"
                for key, short in _SHORT[:5]
                if isinstance(row.get(key), (int, float))
            }
            self._bar.set_postfix(postfix, refresh=False)
            self._bar.write(console_line(row))
            for alarm in fired:
                self._bar.write(f"ALARM [{alarm.kind}] step {alarm.step}: {alarm.message}")
        self._last_step = step
        if fired and self.stop_on_alarm:
            control.should_training_stop = True
            control.should_save = True

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
