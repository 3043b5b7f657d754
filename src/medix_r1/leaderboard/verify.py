"""Verify a leaderboard submission zip: safe to open, complete, and scored as claimed.

Checks, in order:
1. the archive itself: no absolute or ``..`` paths, no links, no member over ``max_member_bytes``,
   no more than ``max_total_bytes`` uncompressed, no suspicious compression ratio. The sizes in a
   zip's headers are claims: every member is inflated here, in chunks, with a running count against
   the same limits (per member, for the whole archive, and the ratio), and must come out exactly as
   large as its header says with the right CRC, so a header that lies stops the read at the limit
   with an error instead of filling memory (issue 17);
2. the layout: ``<m>/<m>_eval.jsonl`` present, the zip named as published for ``<m>``;
3. the ids: every id is ``<task>_<index>`` of a known task (or of the given task list), indices of a
   task run 0..n-1 without gaps or repeats, and n matches the task's size when it is known. Without
   a task list the suite is the submission's own: the tasks its ``run.json`` lists (sizes checked
   for the published ones), else the offline mini-suite when every id is a ``mini_`` task, else the
   published tasks;
4. the scores: each row's score is re-derived from its judge rounds when they are stored, the task
   scores are recomputed from the judgement file, and must match ``<m>_score.txt`` and
   ``scores.json`` when those are present.
"""

from __future__ import annotations

import json
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
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
    notes: list[str] = field(default_factory=list)  # how the suite was chosen, and similar
    run: dict[str, Any] = field(default_factory=dict)  # the submission's run.json (URLs dropped)
    model: str | None = None  # the full model name the submission records, when it does

    def summary(self) -> str:
        head = f"{self.path}: {'OK' if self.ok else 'REJECTED'}"
        lines = [head] + [f"  note: {n}" for n in self.notes]
        lines += [f"  error: {e}" for e in self.errors] + [f"  warning: {w}" for w in self.warnings]
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


_CHUNK = 1 << 16
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # signature .. name length, extra length (30 bytes)


class _Budget:
    """The bytes the whole archive may still inflate to (shared by every member read)."""

    def __init__(self, total: int) -> None:
        self.left = total
        self.total = total


def inflate_member(
    zf: zipfile.ZipFile, name: str, *, limit: int, budget: _Budget | None = None
) -> Iterator[bytes]:
    """Yield a member's bytes in chunks, trusting none of its header's sizes.

    The compressed data is read from the local header's position to the end of its deflate stream
    (or ``compress_size`` bytes for a stored member) with a running count of the output against
    ``limit``, the archive's ``budget`` and :data:`MAX_RATIO`; when done, the output must have the
    size and CRC the header claims. Any breach raises :class:`UnsafeArchiveError` naming the member.
    """
    info = zf.getinfo(name)
    if info.flag_bits & 0x1:
        raise UnsafeArchiveError(f"member {name!r} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise UnsafeArchiveError(
            f"member {name!r} uses compression method {info.compress_type} (only stored or deflate)"
        )
    fp = zf.fp
    if fp is None:  # pragma: no cover - a closed archive
        raise UnsafeArchiveError("the archive is closed")
    fp.seek(0, 2)
    end_of_file = fp.tell()
    fp.seek(info.header_offset)
    head = fp.read(_LOCAL_HEADER.size)
    if len(head) != _LOCAL_HEADER.size or head[:4] != b"PK\x03\x04":
        raise UnsafeArchiveError(f"member {name!r}: no local header at offset {info.header_offset}")
    fields = _LOCAL_HEADER.unpack(head)
    fp.seek(info.header_offset + _LOCAL_HEADER.size + fields[-2] + fields[-1])
    raw_left = end_of_file - fp.tell()
    if info.compress_type == zipfile.ZIP_STORED:
        raw_left = min(raw_left, info.compress_size)
    inflater = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    produced = consumed = crc = 0

    def count(chunk: bytes) -> bytes:
        nonlocal produced, crc
        produced += len(chunk)
        crc = zlib.crc32(chunk, crc)
        if produced > info.file_size:  # the header lied: stop here, not at the limit
            raise UnsafeArchiveError(
                f"member {name!r} inflates past the {info.file_size} bytes its header claims "
                "(a lying header: a zip bomb?)"
            )
        if produced > limit:
            raise UnsafeArchiveError(f"member {name!r} inflates past {limit} bytes")
        if budget is not None:
            budget.left -= len(chunk)
            if budget.left < 0:
                raise UnsafeArchiveError(f"archive expands to more than {budget.total} bytes")
        if produced > 1 << 20 and produced > MAX_RATIO * max(consumed, 1):
            raise UnsafeArchiveError(f"member {name!r} expands over {MAX_RATIO}x (a zip bomb?)")
        return chunk

    while raw_left > 0 and not (inflater is not None and inflater.eof):
        data = fp.read(min(_CHUNK, raw_left))
        if not data:
            break
        raw_left -= len(data)
        consumed += len(data)
        if inflater is None:
            yield count(data)
            continue
        try:
            while data and not inflater.eof:
                # at most one chunk of output per step: the running count sees every chunk
                out = inflater.decompress(data, _CHUNK)
                data = inflater.unconsumed_tail
                if out:
                    yield count(out)
        except zlib.error as exc:
            raise UnsafeArchiveError(f"member {name!r} is corrupt ({exc})") from None
    while inflater is not None and not inflater.eof:  # output zlib still holds for input it took
        try:
            out = inflater.decompress(b"", _CHUNK)
        except zlib.error as exc:
            raise UnsafeArchiveError(f"member {name!r} is corrupt ({exc})") from None
        if not out:
            break
        yield count(out)
    if inflater is not None and not inflater.eof:
        raise UnsafeArchiveError(f"member {name!r} is cut short (its deflate stream does not end)")
    if produced != info.file_size:
        raise UnsafeArchiveError(
            f"member {name!r} inflates to {produced} bytes but its header says {info.file_size} (a lying header)"
        )
    if crc != info.CRC:
        raise UnsafeArchiveError(f"member {name!r} fails its CRC check (corrupt)")


def _read_member(zf: zipfile.ZipFile, name: str, limit: int, budget: _Budget | None = None) -> bytes:
    return b"".join(inflate_member(zf, name, limit=limit, budget=budget))


def read_submission_rows(
    zf: zipfile.ZipFile, name: str, limit: int = MAX_MEMBER_BYTES, budget: _Budget | None = None
) -> list[dict[str, Any]]:
    """The rows of a judgement file inside the zip, parsed line by line as it inflates."""
    rows = []
    pending = b""
    lineno = 0

    def parse(line: bytes) -> None:
        if not line.strip():
            return
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{name}, line {lineno}: not JSON ({exc})") from None
        if not isinstance(row, dict) or not isinstance(row.get("id"), str):
            raise ValueError(f"{name}, line {lineno}: expected an object with a text 'id'")
        rows.append(row)

    for chunk in inflate_member(zf, name, limit=limit, budget=budget):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            lineno += 1
            parse(line)
    if pending:
        lineno += 1
        parse(pending)
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
    gradings = {**{n: t.grading for n, t in known.items()}, **(gradings or {})}
    budget = _Budget(max_total_bytes)
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
        try:
            return _verify_open(
                zf, path, report, known, expected, gradings, require_all, max_member_bytes, budget
            )
        except UnsafeArchiveError as exc:
            report.errors.append(str(exc))
            report.rows = []
            report.ok = False
            return report


def _suite(
    report: VerifyReport, known: dict[str, Any], run: dict[str, Any], row_tasks: list[str]
) -> dict[str, int | None]:
    """The task list a submission is checked against when none is given: its own (see the docstring)."""
    listed = run.get("tasks")
    if isinstance(listed, list) and listed and all(isinstance(t, str) for t in listed):
        unknown = [t for t in listed if t not in known]
        report.notes.append(
            f"suite from its run.json: {len(listed)} task(s)"
            + (
                f"; sizes unchecked for tasks outside the published suite ({_few(unknown)})"
                if unknown
                else ""
            )
        )
        return {t: known[t].expected_size if t in known else None for t in listed}
    if row_tasks and all(t.startswith("mini_") for t in row_tasks):
        report.notes.append(
            f"suite: the offline mini-suite ({len(row_tasks)} task(s) in its ids; no run.json)"
        )
        return {t: None for t in row_tasks}
    return {name: t.expected_size for name, t in known.items()}


def _few(names: list[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def _verify_open(
    zf: zipfile.ZipFile,
    path: Path,
    report: VerifyReport,
    known: dict[str, Any],
    expected: dict[str, int | None] | None,
    gradings: dict[str, str],
    require_all: bool,
    max_member_bytes: int,
    budget: _Budget,
) -> VerifyReport:
    # the archive stays open for the whole read (the caller's ``with``)
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
        rows = read_submission_rows(zf, evals[0], max_member_bytes, budget)
    except (ValueError, UnsafeArchiveError) as exc:
        report.errors.append(str(exc))
        return report
    score_txt = f"{stem}/{stem}_score.txt"
    claimed_txt = (
        _parse_score_txt(_read_member(zf, score_txt, max_member_bytes, budget).decode("utf-8", "replace"))
        if score_txt in names
        else {}
    )
    scores_json = f"{stem}/scores.json"
    claimed_json: dict[str, Any] = {}
    if scores_json in names:
        try:
            claimed_json = json.loads(_read_member(zf, scores_json, max_member_bytes, budget))
        except ValueError:
            report.errors.append(f"{scores_json} is not JSON")
    run_json = f"{stem}/run.json"
    if run_json in names:
        try:
            loaded = json.loads(_read_member(zf, run_json, max_member_bytes, budget))
            report.run = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            report.errors.append(f"{run_json} is not JSON")
    report.rows = rows
    recorded = report.run.get("model") or (
        claimed_json.get("model") if isinstance(claimed_json, dict) else None
    )
    report.model = str(recorded) if recorded else None
    if expected is None:
        row_tasks = []
        for row in rows:
            m = _ID.match(row["id"])
            if m and m.group(1) not in row_tasks:
                row_tasks.append(m.group(1))
        expected = _suite(report, known, report.run, row_tasks)

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
