"""Files written whole or not at all: a temporary sibling, then ``os.replace``.

A reader (a resumed run, the leaderboard, a browser) never sees half a report, table or figure, and
a crash leaves the previous file in place. The temporary name starts with a dot and keeps the
file's suffix (so a plotting library still picks the format from it).

>>> import pathlib, tempfile
>>> out = pathlib.Path(tempfile.mkdtemp()) / "a" / "b.txt"
>>> write_text_atomic(out, "hello\\n")
>>> out.read_text(), sorted(p.name for p in out.parent.iterdir())
('hello\\n', ['b.txt'])
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "write_text_atomic"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary sibling of ``path`` to write (a file, or a folder: a saved dataset, an unpacked
    archive); it replaces ``path`` when the block succeeds and is removed when it fails. The parent
    folder is created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}{path.suffix}")
    _remove(tmp)
    try:
        yield tmp
        if tmp.is_dir() and path.exists():  # a folder cannot replace another in one step
            old = path.with_name(f".{path.name}.old{os.getpid()}")
            _remove(old)
            os.replace(path, old)
            os.replace(tmp, path)
            _remove(old)
        else:
            os.replace(tmp, path)
    finally:
        _remove(tmp)


def write_text_atomic(path: str | os.PathLike[str], text: str | bytes) -> None:
    """Write a whole file (text as UTF-8, or bytes) through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        if isinstance(text, str):
            tmp.write_text(text, encoding="utf-8")
        else:
            tmp.write_bytes(text)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
