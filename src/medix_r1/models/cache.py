"""Where built-in models are materialised, and how a folder is written so readers never see half of it.

Layout under :func:`cache_root` (``$MEDIX_R1_CACHE``, else ``~/.cache/medix-r1``)::

    samples/                    the bundled sample set (:func:`samples_cache_dir`; training, evaluation
                                and the demo build it there on first use)
    models/
      smollm2-vl-tokenizer/     SmolLM2 tokenizer + Qwen-VL vision tokens + ChatML template
      smollm2-135m-instruct/    SmolLM2-135M-Instruct as a plain LlamaForCausalLM (from the GGUF)
      tiny-qwen2-vl-seed0/      tiny VLMs, saved so TRL can rebuild a reference model by path
      demo-vlm-seed0/           SmolLM2 grafted into Qwen2-VL with a random vision tower

Each folder holds ``medix-r1.json`` (what built it, with the format version); a folder without it,
or with another version, is rebuilt. A folder is written under a temporary name in the same parent
and renamed into place, so a crash or a concurrent builder never leaves a partial model behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "CACHE_ENV",
    "cache_root",
    "models_cache_dir",
    "samples_cache_dir",
    "read_manifest",
    "materialize_dir",
]

#: Environment variable naming the cache root; read when a path is needed, never at import.
CACHE_ENV = "MEDIX_R1_CACHE"
#: Bump when the way a cached model is built changes, so old folders are rebuilt.
FORMAT_VERSION = 1
MANIFEST = "medix-r1.json"


def cache_root() -> Path:
    """``$MEDIX_R1_CACHE`` when set and non-empty, else ``~/.cache/medix-r1``."""
    env = os.environ.get(CACHE_ENV, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "medix-r1"


def models_cache_dir(name: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder of built-in model ``name`` under ``cache_dir`` (default :func:`cache_root`) / models."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    return root / "models" / name


def samples_cache_dir() -> Path:
    """Where the bundled sample set is built on first use: :func:`cache_root` / samples."""
    return cache_root() / "samples"


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The manifest of a materialised folder, or ``None`` when it is absent, unreadable or outdated."""
    file = Path(path) / MANIFEST
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        return None
    return manifest


def materialize_dir(
    target: str | os.PathLike[str],
    build: Callable[[Path], None],
    *,
    info: dict[str, Any] | None = None,
    rebuild: bool = False,
) -> Path:
    """Make ``target`` hold what ``build(tmp_dir)`` writes, unless a current copy is already there.

    ``build`` writes into a fresh temporary folder next to ``target``; on success the manifest is
    added and the folder renamed to ``target``. If another process finished first, its copy is kept.
    """
    target = Path(target)
    if not rebuild and read_manifest(target) is not None:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a model cache is meant to be shared
        build(tmp)
        manifest = {"format": FORMAT_VERSION, "name": target.name, **(info or {})}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if target.exists() and (rebuild or read_manifest(target) is None):
            shutil.rmtree(target)  # outdated or partial copy from an older version
        try:
            os.replace(tmp, target)
        except OSError:
            # A concurrent builder renamed its copy first (target is a non-empty folder): use theirs.
            if read_manifest(target) is None:
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
