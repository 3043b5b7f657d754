"""Scores from judgement rows: per task, macro overall (published), micro overall, intervals.

Task score = mean of its judged samples' values (binary 0/1; ``scale5`` mean / 5). Overall (the
published figure) = unweighted mean of the task scores; micro = mean over all judged samples.
``judge_failed`` samples are counted and left out of the means, never scored 0 or 1.

>>> rows = [_row("a_0", 1), _row("a_1", 0), _row("b_0", 1)]
>>> s = compute_scores(rows, ["a", "b"])
>>> s.tasks["a"].score, s.tasks["b"].score, s.overall, s.overall_micro
(0.5, 1.0, 0.75, 0.6666666666666666)
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "TaskScore",
    "Scores",
    "compute_scores",
    "bootstrap_interval",
    "format_score_table",
    "task_of_id",
]


def task_of_id(sample_id: str) -> str:
    """The task part of a published id ``<task>_<index>``.

    >>> task_of_id("mmlu_anatomy_12")
    'mmlu_anatomy'
    """
    head, sep, tail = sample_id.rpartition("_")
    if not sep or not tail.isdigit():
        raise ValueError(f"id {sample_id!r} is not of the form <task>_<index>")
    return head


def bootstrap_interval(
    values: list[float], *, confidence: float = 0.95, resamples: int = 1000, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean (seeded, so reports are reproducible).

    >>> bootstrap_interval([1.0, 1.0, 1.0])
    (1.0, 1.0)
    """
    n = len(values)
    if n == 0:
        return None
    if min(values) == max(values):
        return (float(values[0]), float(values[0]))
    rng = random.Random(seed)
    means = sorted(sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    alpha = (1.0 - confidence) / 2.0
    lo = means[max(0, math.floor(alpha * resamples))]
    hi = means[min(resamples - 1, math.ceil((1.0 - alpha) * resamples) - 1)]
    return (lo, hi)


@dataclass
class TaskScore:
    task: str
    score: float | None
    samples: int  # rows seen (judged + failed)
    judged: int
    failed: int
    grading: str
    modality: str  # "text" or "image"
    interval: tuple[float, float] | None = None


@dataclass
class Scores:
    tasks: dict[str, TaskScore]
    overall: float | None
    overall_micro: float | None
    text_average: float | None
    image_average: float | None
    missing: list[str] = field(default_factory=list)
    judge_failed: int = 0

    def as_json(self, **extra: Any) -> dict[str, Any]:
        return {
            "tasks": {name: t.score for name, t in self.tasks.items()},
            "overall": self.overall,
            "overall_micro": self.overall_micro,
            "text_average": self.text_average,
            "image_average": self.image_average,
            "intervals": {name: list(t.interval) if t.interval else None for name, t in self.tasks.items()},
            "counts": {
                name: {"samples": t.samples, "judged": t.judged, "failed": t.failed}
                for name, t in self.tasks.items()
            },
            "details": {name: asdict(t) for name, t in self.tasks.items()},
            "judge_failed": self.judge_failed,
            "missing": self.missing,
            "complete": not self.missing,
            **extra,
        }


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _row(sample_id: str, score: float, grading: str = "binary") -> dict[str, Any]:  # doctest helper
    return {"id": sample_id, "evaluation": {"score": score, "status": "ok", "grading": grading}}


def row_value(row: dict[str, Any], grading: str | None = None) -> float | None:
    """The 0-1 value of a judgement row, or ``None`` for ``judge_failed``. Reads the published layout
    too (``evaluation.score`` only: 0/1, or a 0-5 mean for report tasks)."""
    ev = row.get("evaluation") or {}
    if ev.get("status", "ok") != "ok" or ev.get("score") is None:
        return None
    grading = ev.get("grading") or row.get("grading") or grading or "binary"
    score = float(ev["score"])
    return score / 5.0 if grading == "scale5" else float(int(score))


def compute_scores(
    rows: list[dict[str, Any]],
    tasks: list[str],
    *,
    gradings: dict[str, str] | None = None,
    image_tasks: set[str] | None = None,
    intervals: bool = True,
) -> Scores:
    """Scores of the given tasks from judgement rows (rows of other tasks are ignored)."""
    gradings = gradings or {}
    values: dict[str, list[float]] = {t: [] for t in tasks}
    # (sample index, 0-5 mean), summed in sample order as the published one-worker run does, so the
    # float sum does not depend on the order samples finished in
    raw_scale5: dict[str, list[tuple[int, float]]] = {t: [] for t in tasks}
    failed: dict[str, int] = dict.fromkeys(tasks, 0)
    seen_grading: dict[str, str] = {}
    has_image: dict[str, bool] = dict.fromkeys(tasks, False)
    for row in rows:
        task = row.get("task") or task_of_id(row["id"])
        if task not in values:
            continue
        ev = row.get("evaluation") or {}
        seen_grading.setdefault(
            task, ev.get("grading") or row.get("grading") or gradings.get(task) or "binary"
        )
        if row.get("image"):
            has_image[task] = True
        v = row_value(row, gradings.get(task))
        if v is None:
            failed[task] += 1
        else:
            values[task].append(v)
            if (ev.get("grading") or row.get("grading") or gradings.get(task)) == "scale5":
                index = row["id"].rpartition("_")[2]
                raw_scale5[task].append((int(index) if index.isdigit() else 0, float(ev["score"])))
    out: dict[str, TaskScore] = {}
    for t in tasks:
        vs = values[t]
        modality = "image" if (image_tasks is not None and t in image_tasks) or has_image[t] else "text"
        # Published arithmetic, so scores agree to the last bit: correct / total for binary tasks,
        # the sum of the 0-5 means / (5 x samples) for scale5 tasks.
        raw = [value for _, value in sorted(raw_scale5[t], key=lambda pair: pair[0])]
        score = sum(raw) / (5 * len(raw)) if raw and len(raw) == len(vs) else _mean(vs)
        out[t] = TaskScore(
            task=t,
            score=score,
            samples=len(vs) + failed[t],
            judged=len(vs),
            failed=failed[t],
            grading=gradings.get(t) or seen_grading.get(t, "binary"),
            modality=modality,
            interval=bootstrap_interval(vs) if intervals else None,
        )
    scored = [s for s in out.values() if s.score is not None]
    all_values = [v for t in tasks for v in values[t]]
    return Scores(
        tasks=out,
        overall=_mean([s.score for s in scored]),  # type: ignore[misc]
        overall_micro=_mean(all_values),
        text_average=_mean([s.score for s in scored if s.modality == "text"]),  # type: ignore[misc]
        image_average=_mean([s.score for s in scored if s.modality == "image"]),  # type: ignore[misc]
        missing=[t for t in tasks if out[t].score is None],
        judge_failed=sum(failed.values()),
    )


def format_score_table(model: str, scores: Scores) -> str:
    """``<model>_score.txt`` as the published score phase writes it: ``Model: <model>``, a blank line,
    then pandas' ``to_string()`` of Task / Accuracy / Accuracy (%), with an ``Overall`` row when there
    is more than one task whose Accuracy is in percent (published). Without pandas, the same layout
    by hand.

    Unlike the published file it is written whole (not appended) on every score phase, and a task
    without judgements shows ``NaN`` / ``n/a`` (the published score phase divides by zero there).
    """
    names = list(scores.tasks)
    values = [scores.tasks[n].score for n in names]
    percent = ["n/a" if v is None else f"{v * 100:.2f}%" for v in values]
    if len(names) > 1:
        o = scores.overall
        names.append("Overall")
        values.append(None if o is None else o * 100)
        percent.append("n/a" if o is None else f"{o * 100:.2f}%")
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - datasets (the eval extra) brings pandas
        pd = None
    if pd is not None:
        df = pd.DataFrame(
            {
                "Task": names,
                "Accuracy": [float("nan") if v is None else v for v in values],
                "Accuracy (%)": percent,
            }
        )
        return f"Model: {model}\n\n" + df.to_string()
    body = [
        (n, "NaN" if v is None else f"{v:.6f}", p) for n, v, p in zip(names, values, percent, strict=True)
    ]
    header = ("Task", "Accuracy", "Accuracy (%)")
    index = [str(i) for i in range(len(body))]
    iw = max([len(i) for i in index] + [0])
    widths = [max(len(header[c]), *(len(r[c]) for r in body)) if body else len(header[c]) for c in range(3)]
    lines = [" " * iw + " " + " ".join(h.rjust(w + 1) for h, w in zip(header, widths, strict=False))]
    for i, r in zip(index, body, strict=False):
        lines.append(i.ljust(iw) + " " + " ".join(v.rjust(w + 1) for v, w in zip(r, widths, strict=False)))
    return f"Model: {model}\n\n" + "\n".join(lines)
