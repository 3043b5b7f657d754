"""Optional persistent cache of judge verdicts (SQLite), shared across runs and processes."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path

from medix_r1.errors import MedixError

__all__ = ["VerdictCache", "cache_key", "JudgeCacheError"]


class JudgeCacheError(MedixError, ValueError):
    """A ``--judge-cache`` path that is not a usable verdict cache (a folder, another kind of file)."""


def cache_key(*parts: str) -> str:
    """Key of one request: a SHA-256 over its parts (judge identity, template hash, texts)."""
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()


class VerdictCache:
    """A key -> reply-text store in one SQLite file (WAL mode: concurrent readers, one writer)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise JudgeCacheError(
                f"judge cache {self.path} is a folder: give a file name, e.g. {self.path / 'verdicts.sqlite'}"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, reply TEXT NOT NULL)"
            )
            self._db.execute("SELECT key, reply FROM verdicts LIMIT 1").fetchall()
            self._db.commit()
        except sqlite3.DatabaseError as exc:
            raise JudgeCacheError(
                f"judge cache {self.path} is not a verdict cache ({exc}): give a new file name, or delete "
                "the file if it is a damaged cache (its verdicts are asked again)"
            ) from None

    def get_many(self, keys: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(f"SELECT key, reply FROM verdicts WHERE key IN ({marks})", chunk)
                found.update(rows.fetchall())
        return found

    def put_many(self, items: dict[str, str]) -> None:
        if not items:
            return
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO verdicts VALUES (?, ?)", list(items.items()))
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
