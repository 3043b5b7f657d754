"""Leaderboard submission archives in the published naming.

A run folder ``results/<m>/`` (``<m>`` = the model's folder name) is zipped as
``<id>_<m>_submission.zip`` where ``<id>`` is the first 8 hex digits of the MD5 of the model name
``<m>`` (the naming the issue and the reference give). Some copies of the published ``submit.sh``
hash ``<m>_submission`` instead; :func:`accepted_submission_names` lists both so verification
accepts either.

The zip goes to ``submissions/`` beside the output folder by default (``results/m`` ->
``submissions/``), not into ``results/``, so ``leaderboard build results/*`` sees only run folders.
``run.json`` and ``scores.json`` go in without the run's internal addresses (candidate and judge
URLs, local model paths) unless ``include_urls`` is set.

>>> submission_name("MBZUAI/MediX-R1-8B")
'48d6d76f_MediX_R1_8B_submission.zip'
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

from medix_r1.evaluation.files import model_dirname
from medix_r1.files import atomic_path

__all__ = [
    "submission_name",
    "accepted_submission_names",
    "make_submission",
    "default_submission_dir",
    "drop_internal_addresses",
]

#: Keys of run.json / scores.json that hold where a run was served from, not what it was.
_INTERNAL_KEYS = ("base_url", "judge_url", "model_path", "log_path")


def drop_internal_addresses(value: Any) -> Any:
    """``value`` without any key that holds an internal address (URLs, local paths), at any depth.

    >>> drop_internal_addresses({"model": "m", "base_url": "http://10.0.0.5:8000/v1", "run": {"judge_url": "x"}})
    {'model': 'm', 'run': {}}
    """
    if isinstance(value, dict):
        return {
            k: drop_internal_addresses(v)
            for k, v in value.items()
            if not (k in _INTERNAL_KEYS or k.endswith("_url"))
        }
    if isinstance(value, list):
        return [drop_internal_addresses(v) for v in value]
    return value


def default_submission_dir(run_dir: str | Path) -> Path:
    """``submissions/`` beside the output folder that holds ``run_dir`` (``results/m`` -> ``submissions``)."""
    return Path(run_dir).resolve().parent.parent / "submissions"


def submission_name(model_or_dir: str) -> str:
    stem = model_dirname(model_or_dir)
    return f"{hashlib.md5(stem.encode()).hexdigest()[:8]}_{stem}_submission.zip"


def accepted_submission_names(model_or_dir: str) -> tuple[str, str]:
    """Our name first, then the variant that hashes ``<m>_submission``."""
    stem = model_dirname(model_or_dir)
    base = f"{stem}_submission"
    return submission_name(stem), f"{hashlib.md5(base.encode()).hexdigest()[:8]}_{base}.zip"


def make_submission(
    run_dir: str | Path, out_dir: str | Path | None = None, *, include_urls: bool = False
) -> Path:
    """Zip a model's run folder (``OUT/<m>/``) as ``<m>/...`` members; returns the zip path.

    ``run_dir`` may also be the output folder holding exactly one model folder. The zip goes to
    ``out_dir``, by default :func:`default_submission_dir`.
    """
    run_dir = Path(run_dir)
    if not any(run_dir.glob("*_eval.jsonl")):
        subdirs = [d for d in run_dir.iterdir() if d.is_dir() and any(d.glob("*_eval.jsonl"))]
        if len(subdirs) != 1:
            raise FileNotFoundError(
                f"{run_dir} holds no <model>_eval.jsonl"
                + (f" but {len(subdirs)} model folders; name one" if subdirs else "")
            )
        run_dir = subdirs[0]
    stem = run_dir.name
    if not (run_dir / f"{stem}_eval.jsonl").exists():
        raise FileNotFoundError(f"{run_dir}/{stem}_eval.jsonl is missing: run the judge phase first")
    target = Path(out_dir) if out_dir is not None else default_submission_dir(run_dir)
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"--out {target} is a file: give a folder for the zip")
    target.mkdir(parents=True, exist_ok=True)
    path = target / submission_name(stem)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(run_dir.rglob("*")):
            if not f.is_file() or f.is_symlink() or f.name.startswith("."):
                continue
            if f.suffix == ".partial" or f.name.endswith("_submission.zip"):
                continue  # an older submission, or a file being written
            member = f"{stem}/{f.relative_to(run_dir).as_posix()}"
            if f.name in ("run.json", "scores.json") and f.parent == run_dir and not include_urls:
                zf.writestr(member, _scrubbed(f))
            else:
                zf.write(f, member)
    return path


def _scrubbed(path: Path) -> str:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path} is not JSON ({exc}); rerun the score phase") from None
    return json.dumps(drop_internal_addresses(data), indent=2) + "\n"
