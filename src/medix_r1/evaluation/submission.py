"""Leaderboard submission archives in the published naming.

A run folder ``results/<m>/`` (``<m>`` = the model's folder name) is zipped as
``<id>_<m>_submission.zip`` where ``<id>`` is the first 8 hex digits of the MD5 of the model name
``<m>`` (the naming the issue and the reference give). Some copies of the published ``submit.sh``
hash ``<m>_submission`` instead; :func:`accepted_submission_names` lists both so verification
accepts either.

>>> submission_name("MBZUAI/MediX-R1-8B")
'48d6d76f_MediX_R1_8B_submission.zip'
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from medix_r1.evaluation.files import model_dirname

__all__ = ["submission_name", "accepted_submission_names", "make_submission"]


def submission_name(model_or_dir: str) -> str:
    stem = model_dirname(model_or_dir)
    return f"{hashlib.md5(stem.encode()).hexdigest()[:8]}_{stem}_submission.zip"


def accepted_submission_names(model_or_dir: str) -> tuple[str, str]:
    """Our name first, then the variant that hashes ``<m>_submission``."""
    stem = model_dirname(model_or_dir)
    base = f"{stem}_submission"
    return submission_name(stem), f"{hashlib.md5(base.encode()).hexdigest()[:8]}_{base}.zip"


def make_submission(run_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Zip a model's run folder (``OUT/<m>/``) as ``<m>/...`` members; returns the zip path.

    ``run_dir`` may also be the output folder holding exactly one model folder.
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
    target = Path(out_dir) if out_dir is not None else run_dir.parent
    target.mkdir(parents=True, exist_ok=True)
    path = target / submission_name(stem)
    tmp = path.with_suffix(".zip.partial")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(run_dir.rglob("*")):
            if f.is_file() and not f.is_symlink() and not f.name.startswith("."):
                zf.write(f, f"{stem}/{f.relative_to(run_dir).as_posix()}")
    tmp.replace(path)
    return path
