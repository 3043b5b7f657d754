"""Verify a leaderboard submission zip: safe to open, complete, and scored as claimed.

Checks, in order:
1. the archive itself: no absolute or ``..`` paths, no links, no member over ``max_member_bytes``,
   no more than ``max_total_bytes`` uncompressed, no suspicious compression ratio;
2. the layout: ``<m>/<m>_eval.jsonl`` present, the zip named as published for ``<m>``;
3. the ids: every id is ``<task>_<index>`` of a known task (or of the given task list), indices of a
   task run 0..n-1 without gaps or repeats, and n matches the task's size when it is known;
4. the scores: each row's score is re-derived from its judge rounds when they are stored, the task
   scores are recomputed from the judgement file, and must match ``<m>_score.txt`` and
   ``scores.json`` when those are present.
"""

from __future__ import annotations

import json
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from medix_r1.errors import MedixError
from medix_r1.evaluation.judging import aggregate
from medix_r1.evaluation.scoring import Scores, compute_scores
from medix_r1.evaluation.submission import accepted_submission_names, submission_name

__all__ = ["VerifyReport", "verify_submission", "UnsafeArchiveError", "read_submission_rows"]

MAX_MEMBER_BYTES = 512 * 1024 * 1024
MAX_TOTAL_BYTES = 2 * 1024 * 1024 * 1024
MAX_RATIO = 200  # uncompressed / compressed, for members over 1 MiB
_ID = re.compile(r"^(.+)_(\d+)$")


class UnsafeArchiveError(MedixError, ValueError):
    """The archive could write outside its folder, or is too large to open safely."""


@dataclass
class VerifyReport:
    path: str
    model_dir: str | None = None
    ok: bool = False
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    scores: Scores | None = None
    rows: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def summary(self) -> str:
        head = f"{self.path}: {'OK' if self.ok else 'REJECTED'}"
        lines = [head] + [f"  error: {e}" for e in self.errors] + [f"  warning: {w}" for w in self.warnings]
        if self.scores is not None and self.scores.overall is not None:
            lines.append(f"  overall (re-scored): {100 * self.scores.overall:.2f}%")
        return "\n".join(lines)


def check_members(
    zf: zipfile.ZipFile, *, max_member_bytes: int = MAX_MEMBER_BYTES, max_total_bytes: int = MAX_TOTAL_BYTES
) -> None:
    """Raise :class:`UnsafeArchiveError` for path escapes, links and oversized members."""
    total = 0
    for info in zf.infolist():
        name = info.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts or "\\" in name:
            raise UnsafeArchiveError(f"member {name!r} escapes the archive folder")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsafeArchiveError(f"member {name!r} is a symbolic link")
        if info.file_size > max_member_bytes:
            raise UnsafeArchiveError(f"member {name!r} is {info.file_size} bytes (limit {max_member_bytes})")
        if (
            info.file_size > 1 << 20
            and info.compress_size
            and info.file_size / info.compress_size > MAX_RATIO
        ):
            raise UnsafeArchiveError(
                f"member {name!r} expands {info.file_size // info.compress_size}x (a zip bomb?)"
            )
        total += info.file_size
        if total > max_total_bytes:
            raise UnsafeArchiveError(f"archive expands to more than {max_total_bytes} bytes")


def _read_member(zf: zipfile.ZipFile, name: str, limit: int) -> bytes:
    with zf.open(name) as f:
        data = f.read(limit + 1)  # the header's size can lie; never read past the limit
    if len(data) > limit:
        raise UnsafeArchiveError(f"member {name!r} is larger than its header says (limit {limit})")
    return data


def read_submission_rows(
    zf: zipfile.ZipFile, name: str, limit: int = MAX_MEMBER_BYTES
) -> list[dict[str, Any]]:
    rows = []
    for lineno, line in enumerate(_read_member(zf, name, limit).decode("utf-8").splitlines(), 1):
        if line.strip():
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{name}, line {lineno}: not JSON ({exc})") from None
            if not isinstance(row, dict) or not isinstance(row.get("id"), str):
                raise ValueError(f"{name}, line {lineno}: expected an object with a text 'id'")
            rows.append(row)
    return rows


def _parse_score_txt(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines()[2:]:
        m = re.match(r"^\s*\d+\s+(\S+)\s+(\S+)\s+(\S+)\s*$", line)
        if m:
            try:
                out[m.group(1)] = float(m.group(3).rstrip("%")) / 100
            except ValueError:
                continue
    return out


def verify_submission(
    path: str | Path,
    *,
    expected: dict[str, int | None] | None = None,
    gradings: dict[str, str] | None = None,
    require_all: bool = False,
    max_member_bytes: int = MAX_MEMBER_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
) -> VerifyReport:
    """Verify a submission zip. ``expected`` maps task names to sizes (``None`` = size unknown); by
    default the published tasks and MMMU-Medical with their known sizes. ``require_all`` rejects a
    submission missing any expected task."""
    from medix_r1.evaluation.registry import EXTRA_TASKS, PUBLISHED_TASKS

    path = Path(path)
    report = VerifyReport(path=str(path))
    known = {**PUBLISHED_TASKS, **EXTRA_TASKS}
    if expected is None:
        expected = {name: t.expected_size for name, t in known.items()}
    gradings = {**{n: t.grading for n, t in known.items()}, **(gradings or {})}
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        report.errors.append(f"not a readable zip ({exc})")
        return report
    with zf:
        try:
            check_members(zf, max_member_bytes=max_member_bytes, max_total_bytes=max_total_bytes)
        except UnsafeArchiveError as exc:
            report.errors.append(str(exc))
            return report
        names = zf.namelist()
        evals = [n for n in names if re.fullmatch(r"([^/]+)/\1_eval\.jsonl", n)]
        if len(evals) != 1:
            report.errors.append(f"expected exactly one <m>/<m>_eval.jsonl, found {len(evals)}")
            return report
        stem = evals[0].split("/", 1)[0]
        report.model_dir = stem
        if path.name not in accepted_submission_names(stem):
            report.errors.append(
                f"archive is named {path.name!r}; the published name for {stem} is {submission_name(stem)!r}"
            )
        try:
            rows = read_submission_rows(zf, evals[0], max_member_bytes)
        except (ValueError, UnsafeArchiveError) as exc:
            report.errors.append(str(exc))
            return report
        score_txt = f"{stem}/{stem}_score.txt"
        claimed_txt = (
            _parse_score_txt(_read_member(zf, score_txt, max_member_bytes).decode("utf-8", "replace"))
            if score_txt in names
            else {}
        )
        scores_json = f"{stem}/scores.json"
        claimed_json: dict[str, Any] = {}
        if scores_json in names:
            try:
                claimed_json = json.loads(_read_member(zf, scores_json, max_member_bytes))
            except ValueError:
                report.errors.append(f"{scores_json} is not JSON")
    report.rows = rows

    # ids and counts
    per_task: dict[str, list[int]] = {}
    for row in rows:
        m = _ID.match(row["id"])
        if not m:
            report.errors.append(f"id {row['id']!r} is not of the form <task>_<index>")
            continue
        task, index = m.group(1), int(m.group(2))
        if row.get("task") not in (None, task):
            report.errors.append(f"row {row['id']}: task field {row.get('task')!r} disagrees with its id")
        if task not in expected:
            report.errors.append(f"row {row['id']}: unknown task {task!r}")
            continue
        per_task.setdefault(task, []).append(index)
        ev = row.get("evaluation")
        if not isinstance(ev, dict) or "score" not in ev:
            report.errors.append(f"row {row['id']}: no evaluation score")
            continue
        rounds = ev.get("rounds")
        if ev.get("status", "ok") == "ok" and rounds:
            grading = ev.get("grading") or gradings.get(task, "binary")
            try:
                derived = aggregate([int(r) for r in rounds], grading)
            except (TypeError, ValueError):
                report.errors.append(f"row {row['id']}: unreadable rounds {rounds!r}")
                continue
            if ev.get("score") is None or abs(float(ev["score"]) - derived) > 1e-9:
                report.errors.append(
                    f"row {row['id']}: score {ev.get('score')!r} does not follow from rounds {rounds}"
                )
    for task, indices in per_task.items():
        n = len(indices)
        report.counts[task] = n
        if len(set(indices)) != n:
            report.errors.append(f"task {task}: {n - len(set(indices))} repeated id(s)")
        elif sorted(indices) != list(range(n)):
            report.errors.append(f"task {task}: ids are not {task}_0..{task}_{n - 1} (gaps)")
        size = expected.get(task)
        if size is not None and len(set(indices)) != size:
            report.errors.append(f"task {task}: {len(set(indices))} samples, expected {size}")
    if require_all:
        missing = [t for t in expected if t not in per_task]
        if missing:
            report.errors.append(f"missing task(s): {', '.join(missing)}")

    # scores
    tasks = list(per_task)
    scores = compute_scores(
        rows, tasks, gradings={t: gradings.get(t, "binary") for t in tasks}, intervals=False
    )
    report.scores = scores
    for task, claimed in claimed_txt.items():
        if task == "Overall":
            ours = scores.overall
        elif task in scores.tasks:
            ours = scores.tasks[task].score
        else:
            report.errors.append(f"score file lists task {task!r} without judgements")
            continue
        if ours is None or abs(ours - claimed) > 5e-5:
            report.errors.append(f"score file claims {task} = {claimed:.4f}, the judgements give {ours}")
    for task, claimed in (claimed_json.get("tasks") or {}).items():
        ours = scores.tasks[task].score if task in scores.tasks else None
        if claimed is not None and (ours is None or abs(ours - float(claimed)) > 1e-9):
            report.errors.append(f"scores.json claims {task} = {claimed}, the judgements give {ours}")
    report.ok = not report.errors
    return report
