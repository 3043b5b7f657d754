"""Run-directory files: the published layout, crash-safe appends, and resume.

A run writes into ``OUT/<model>/`` (``<model>`` as the published harness spells it: the last path
part of the model name with every non-alphanumeric character replaced by ``_``):

- ``<model>.jsonl`` one generation per line: ``id``, ``question``, ``answer``, ``response``,
  ``answer_idx`` (the published fields) plus ``task``, ``hash`` and ``image``;
- ``<model>_eval.jsonl`` the same plus ``evaluation`` (``score``, ``status``, ``rounds``...) and
  ``judge_hash``;
- ``<model>_score.txt``, ``scores.json`` and the reports, rewritten whole by the score phase.

One writer per folder: :class:`RunLock` holds ``.lock`` (an advisory ``flock``, released by the
kernel when the holder dies, so a kill -9 leaves no stale lock) for as long as a run writes; a second
run on the same folder stops with the holder's pid. One model per folder: ``run.json`` records the
full model name; a run whose name maps to a folder that another model's run recorded stops
(:func:`check_folder_owner`), so ``orgA/m-8B`` and ``orgB/m-8B`` never share answers. A file with a
repeated sample id (two writers before the lock existed) is rewritten keeping each id's first row.

Each row is appended with a single ``write`` on an ``O_APPEND`` descriptor, so rows never interleave.
A process killed with ``-9`` can leave at most one torn last line; :func:`read_rows` detects it, cuts
it off, and the sample is redone. Resume compares each row's content ``hash`` with the current
sample's, so rows of an edited dataset or prompt are reported, not mixed in.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medix_r1.errors import MedixError
from medix_r1.files import write_text_atomic

__all__ = [
    "model_dirname",
    "RunPaths",
    "content_hash",
    "JsonlAppender",
    "read_rows",
    "ReadResult",
    "StaleResultsError",
    "RunFolderBusyError",
    "FolderOwnedError",
    "RunLock",
    "folder_owner",
    "check_folder_owner",
    "repair_rows",
]


def model_dirname(model: str) -> str:
    """The published harness's folder name for a model: last path part, non-alphanumerics as ``_``.

    >>> model_dirname("MBZUAI/MediX-R1-8B"), model_dirname("/ckpt/step_230/"), model_dirname("gpt-4o")
    ('MediX_R1_8B', 'step_230', 'gpt_4o')
    """
    parts = model.split("/")
    last = parts[-2] if parts[-1].strip() == "" and len(parts) > 1 else parts[-1]
    name = re.sub(r"[^a-zA-Z0-9]", "_", last)
    if not name:
        raise ValueError(f"model name {model!r} gives an empty folder name")
    return name


@dataclass(frozen=True)
class RunPaths:
    """Where one model's files live inside an output directory."""

    out: Path
    model: str

    @property
    def stem(self) -> str:
        return model_dirname(self.model)

    @property
    def dir(self) -> Path:
        return Path(self.out) / self.stem

    @property
    def generations(self) -> Path:
        return self.dir / f"{self.stem}.jsonl"

    @property
    def judgements(self) -> Path:
        return self.dir / f"{self.stem}_eval.jsonl"

    @property
    def score_txt(self) -> Path:
        return self.dir / f"{self.stem}_score.txt"

    @property
    def scores_json(self) -> Path:
        return self.dir / "scores.json"

    @property
    def run_json(self) -> Path:
        return self.dir / "run.json"


def content_hash(*parts: Any) -> str:
    """A short stable hash of JSON-serialisable parts (sample content, prompt settings).

    >>> content_hash("q", "a") == content_hash("q", "a") != content_hash("q", "b")
    True
    """
    payload = json.dumps(parts, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


class StaleResultsError(MedixError, RuntimeError):
    """Rows in a run directory were made from different data or prompts than the current run."""

    def __init__(self, path: Path, ids: list[str], what: str) -> None:
        self.path, self.ids = path, ids
        shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
        super().__init__(
            f"{path} holds {len(ids)} row(s) whose {what} differs from this run ({shown}): the dataset, "
            "the prompt or the model settings changed since they were written. Use another --out "
            "directory, or pass --redo-changed to drop those rows and redo them."
        )


@dataclass
class ReadResult:
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    torn: int = 0  # torn or unreadable lines removed
    duplicates: int = 0  # repeated ids (first kept; with ``repair`` the file is rewritten without them)
    duplicate_ids: list[str] = field(default_factory=list)  # the first few repeated ids, for messages


def read_rows(path: Path, *, repair: bool = True) -> ReadResult:
    """Rows of a jsonl file by ``id``. A torn last line (no newline, or not JSON) is cut off when
    ``repair`` is set; a bad line elsewhere is an error naming the file and line."""
    result = ReadResult()
    path = Path(path)
    if not path.exists():
        return result
    data = path.read_bytes()
    lines = data.split(b"\n")  # the last item is the text after the final newline: b"" when whole
    good_end = 0
    for lineno, chunk in enumerate(lines, start=1):
        is_tail = lineno == len(lines)
        if is_tail and chunk:  # bytes without their newline: a write cut short by a crash
            result.torn += 1
            break
        row = None
        if chunk.strip():
            try:
                row = json.loads(chunk)
            except ValueError as exc:
                if lineno == len(lines) - 1:  # the last full line: torn as well
                    result.torn += 1
                    break
                raise ValueError(f"{path}, line {lineno}: unreadable row ({exc}); fix or delete it") from None
            if not isinstance(row, dict) or "id" not in row:
                raise ValueError(f"{path}, line {lineno}: expected a JSON object with an 'id'")
            if row["id"] in result.rows:
                result.duplicates += 1
                if len(result.duplicate_ids) < 5 and row["id"] not in result.duplicate_ids:
                    result.duplicate_ids.append(str(row["id"]))
            else:
                result.rows[row["id"]] = row
        if not is_tail:
            good_end += len(chunk) + 1
    if result.duplicates and repair:  # keep the first row of each id (and drop a torn tail with them)
        rewrite_rows(path, list(result.rows.values()))
    elif result.torn and repair:
        with open(path, "r+b") as f:
            f.truncate(good_end)
    return result


class JsonlAppender:
    """Append whole rows to a jsonl file, one ``os.write`` per row on an ``O_APPEND`` descriptor."""

    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, row: dict[str, Any]) -> None:
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        data = (json.dumps(row, ensure_ascii=False) + "\n").encode()
        written = os.write(self._fd, data)
        while written < len(data):  # only on exotic filesystems; keeps the row whole
            written += os.write(self._fd, data[written:])
        if self.fsync:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def rewrite_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """Replace a jsonl file by ``rows`` atomically (used to drop stale rows on ``--redo-changed``)."""
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


class RunFolderBusyError(MedixError, RuntimeError):
    """Another process is writing the same run folder."""

    def __init__(self, folder: Path, holder: str, hint: str = "another --out folder") -> None:
        self.folder, self.holder = folder, holder
        super().__init__(
            f"{folder} is being written by another run ({holder}); wait for it to finish, or give "
            f"this run {hint}. Two runs on one folder would do the work twice and mix their files"
        )


class FolderOwnedError(MedixError, ValueError):
    """A run folder that another model's run recorded as its own."""

    def __init__(self, folder: Path, owner: str, model: str) -> None:
        self.folder, self.owner, self.model = folder, owner, model
        super().__init__(
            f"{folder} holds the results of model {owner!r}, not {model!r} (both names map to the "
            f"folder name {folder.name!r}); give this run another --out folder so the two models' "
            "answers are never mixed"
        )


class RunLock:
    """An exclusive lock on a run folder (``.lock``, advisory ``flock``), holding the writer's pid.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> with RunLock(d):
    ...     try:
    ...         RunLock(d).acquire()
    ...     except RunFolderBusyError as exc:
    ...         print("busy", "pid" in str(exc))
    busy True
    """

    def __init__(self, folder: Path, *, hint: str = "another --out folder") -> None:
        self.folder = Path(folder)
        self.path = self.folder / ".lock"
        self.hint = hint  # what the message tells the second run to do instead
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        import fcntl
        import time

        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "pid unknown"
            os.close(fd)
            raise RunFolderBusyError(self.folder, holder, self.hint) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def folder_owner(paths: RunPaths) -> str | None:
    """The full model name the folder's earlier run recorded (``run.json``, else ``scores.json``)."""
    for meta in (paths.run_json, paths.scores_json):
        if meta.is_file():
            try:
                model = json.loads(meta.read_text(encoding="utf-8")).get("model")
            except (ValueError, AttributeError):
                continue
            if isinstance(model, str) and model:
                return model
    return None


def check_folder_owner(paths: RunPaths) -> None:
    """Stop when the folder belongs to another model (see the module docstring)."""
    owner = folder_owner(paths)
    if owner is not None and owner.rstrip("/") != paths.model.rstrip("/"):
        raise FolderOwnedError(paths.dir, owner, paths.model)


def repair_rows(path: Path) -> ReadResult:
    """Cut a torn last line and drop repeated ids (first kept) of one jsonl file, in place."""
    return read_rows(path, repair=True)
