"""Turn common medical VQA layouts and DICOM folders into MediX records.

Row layouts (one question per row):

=========  ====================================================  ======================
layout     columns read                                          modality
=========  ====================================================  ======================
vqa-rad    ``image``/``image_name``, ``question``, ``answer``    ``modality`` column or
                                                                 ``default_modality``
slake      ``img_name``, ``question``, ``answer``, ``q_lang``,   ``modality`` column
           ``modality`` (CT / MRI / X-Ray), ``qid``              ("X-Ray" -> ``<X_RAY>``)
path-vqa   ``image``, ``question``, ``answer``                   ``<MICROSCOPY>``
pmc-vqa    ``Figure_path``, ``Question``, ``Answer``,            ``modality`` column or
           ``Choice A``..``Choice D``                            ``default_modality``
=========  ====================================================  ======================

>>> rows = [{"img_name": "xmlab1/source.jpg", "question": "Which organ is abnormal?",
...          "answer": "Lung", "q_lang": "en", "modality": "X-Ray", "qid": 7}]
>>> r = convert_rows(rows, "slake", image_root="imgs")[0]
>>> r.id, r.image, r.solution, r.problem
('slake-7', ['imgs/xmlab1/source.jpg'], '<X_RAY> Lung', '<image>\\nWhich organ is abnormal?')

Ids come from the dataset's own id column when it has one, else from a hash of image and question,
never from the row position (positional ids drift when a dataset changes, reference section 5).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medix_r1.data.schema import MedixRecord, RecordError, make_problem
from medix_r1.errors import did_you_mean
from medix_r1.modality import UnknownModalityError, resolve_modality

__all__ = ["Layout", "LAYOUTS", "convert_rows", "DicomFolderResult", "from_dicom_folder"]


@dataclass(frozen=True)
class Layout:
    """Where a VQA layout keeps each piece of a record."""

    name: str
    image_fields: tuple[str, ...]
    question_field: str
    answer_field: str
    id_fields: tuple[str, ...] = ()
    modality_field: str | None = "modality"
    default_modality: str | None = None
    choice_fields: tuple[str, ...] = ()
    language_field: str | None = None


LAYOUTS: dict[str, Layout] = {
    "vqa-rad": Layout("vqa-rad", ("image", "image_name"), "question", "answer", id_fields=("qid",)),
    "slake": Layout(
        "slake", ("img_name", "image"), "question", "answer", id_fields=("qid",), language_field="q_lang"
    ),
    "path-vqa": Layout("path-vqa", ("image",), "question", "answer", default_modality="<MICROSCOPY>"),
    "pmc-vqa": Layout(
        "pmc-vqa",
        ("Figure_path", "image"),
        "Question",
        "Answer",
        id_fields=("index",),
        choice_fields=("Choice A", "Choice B", "Choice C", "Choice D"),
    ),
}


def _layout(name: str) -> Layout:
    if name in LAYOUTS:
        return LAYOUTS[name]
    hint = did_you_mean(name, LAYOUTS, n=2) or "."
    raise ValueError(f"unknown layout {name!r}{hint} Valid layouts: {', '.join(LAYOUTS)}")


def _image_ref(value: Any, image_root: str | None) -> Any:
    """A record image from a row value: PIL image -> PNG bytes, HF dict -> as is, path -> joined with root."""
    if hasattr(value, "save") and hasattr(value, "size"):
        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        return {"bytes": buffer.getvalue(), "path": None}
    if isinstance(value, dict):
        if value.get("bytes"):
            return {"bytes": value["bytes"], "path": value.get("path")}
        value = value.get("path")
    if isinstance(value, (bytes, bytearray)):
        return {"bytes": bytes(value), "path": None}
    if isinstance(value, str) and value.strip():
        value = value.strip()
        return f"{image_root.rstrip('/')}/{value}" if image_root and not value.startswith("data:") else value
    return None


def _choice_text(value: str, letter: str) -> str:
    # PMC-VQA writes choices as "A:CT" or "A: CT"; keep the option text only.
    return re.sub(rf"^\s*{letter}\s*[:.)]\s*", "", value).strip()


def _stable_id(prefix: str, image: Any, question: str) -> str:
    key = image if isinstance(image, str) else hashlib.sha256((image or {}).get("bytes") or b"").hexdigest()
    return f"{prefix}-{hashlib.sha1(f'{key}|{question}'.encode()).hexdigest()[:12]}"


def convert_rows(
    rows: Iterable[dict[str, Any]],
    layout: str,
    *,
    image_root: str | None = None,
    default_modality: str | None = None,
    source: str | None = None,
    with_choices: bool = True,
    languages: tuple[str, ...] | None = ("en",),
    split: str | None = None,
) -> list[MedixRecord]:
    """Convert rows of a known ``layout`` (see the module table) into records.

    ``image_root`` is prefixed to image paths (e.g. SLAKE's ``imgs``), relative to where the records
    will be written. ``default_modality`` (any name the taxonomy knows) labels rows that carry no
    modality. Rows in other languages than ``languages`` are skipped (SLAKE has Chinese rows).
    A row that cannot be converted raises :class:`RecordError` naming its position and field.
    """
    spec = _layout(layout)
    source = source or spec.name
    fallback = default_modality or spec.default_modality
    records: list[MedixRecord] = []
    used: dict[str, int] = {}
    for index, row in enumerate(rows, start=1):
        where = f"row {index}"
        if not isinstance(row, dict):
            raise RecordError(f"expected a mapping, got {type(row).__name__}", file=source, row=where)
        if (
            spec.language_field
            and languages is not None
            and row.get(spec.language_field, "en") not in languages
        ):
            continue
        question = row.get(spec.question_field)
        answer = row.get(spec.answer_field)
        for name, value in ((spec.question_field, question), (spec.answer_field, answer)):
            if value is None or not str(value).strip():
                raise RecordError("missing or empty", file=source, row=where, field=name)
        image = next(
            (_image_ref(row[f], image_root) for f in spec.image_fields if row.get(f) is not None), None
        )
        if image is None:
            raise RecordError("no image", file=source, row=where, field="/".join(spec.image_fields))
        raw_modality = row.get(spec.modality_field) if spec.modality_field else None
        modality = raw_modality if raw_modality not in (None, "") else fallback
        if modality is None:
            raise RecordError(
                f"the {spec.name} layout has no modality here; pass default_modality=... (e.g. 'CT') "
                "or add a 'modality' column",
                file=source,
                row=where,
                field="modality",
            )
        try:
            tag = resolve_modality(str(modality)).tag
        except UnknownModalityError as exc:
            raise RecordError(str(exc), file=source, row=where, field="modality") from exc
        question = " ".join(str(question).split())
        if with_choices and spec.choice_fields:
            options = [
                (letter, _choice_text(str(row[f]), letter))
                for letter, f in zip("ABCDEFGHIJ", spec.choice_fields, strict=False)
                if row.get(f) not in (None, "")
            ]
            if options:
                question += "\n\nChoices:\n" + "\n".join(f"{letter}. {text}" for letter, text in options)
        own_id = next((row[f] for f in spec.id_fields if row.get(f) not in (None, "")), None)
        record_id = f"{spec.name}-{own_id}" if own_id is not None else _stable_id(spec.name, image, question)
        used[record_id] = used.get(record_id, 0) + 1
        if used[record_id] > 1:
            record_id = f"{record_id}-{used[record_id]}"
        records.append(
            MedixRecord(
                id=record_id,
                image=[image],
                source=source,
                problem=make_problem(question),
                solution=f"{tag} {' '.join(str(answer).split())}",
                modality=tag,
                split=split,
            )
        )
    return records


@dataclass
class DicomFolderResult:
    """Records made from a DICOM folder, and the files skipped with the reason."""

    records: list[MedixRecord]
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _title(text: str) -> str:
    return text[:1].upper() + text[1:].lower() if text.isupper() else text


def from_dicom_folder(
    folder: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    source: str | None = None,
    on_error: str = "raise",
    max_side: int | None = 512,
) -> DicomFolderResult:
    """Decode every DICOM file under ``folder`` to PNG in ``out_dir/images`` and ask what its header knows.

    Each file gives a modality question (tag from the ``Modality`` header through the taxonomy), and,
    when present, a body-region question (``BodyPartExamined``) and a study question
    (``StudyDescription``). Image paths in the records are relative to ``out_dir``: write the records
    there. ``on_error="skip"`` collects undecodable files in ``skipped`` instead of raising.
    """
    from PIL import Image

    from medix_r1.data.dicom import DicomDecodeError, dicom_info, dicom_to_image, read_dicom

    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    images_dir = Path(out_dir) / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    source = source or f"dicom:{root.name}"
    result = DicomFolderResult(records=[])
    candidates = sorted(p for p in root.rglob("*") if p.is_file() and p.name != "DICOMDIR")
    for path in candidates:
        rel = path.relative_to(root).as_posix()
        try:
            ds = read_dicom(path)
            info = dicom_info(ds)
            img = dicom_to_image(ds)
        except DicomDecodeError as exc:
            if on_error == "raise":
                raise
            result.skipped.append((rel, str(exc)))
            continue
        if max_side and max(img.size) > max_side:
            img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", rel)
        name = f"{stem}.png"
        img.save(images_dir / name, format="PNG")
        tag = info.modality_tag
        label = resolve_modality(tag).label
        questions = [("modality", "What imaging modality is shown?", label)]
        if info.body_part:
            questions.append(("region", "Which body region is imaged?", _title(info.body_part)))
        if info.study_description:
            questions.append(("study", "What study does this image belong to?", info.study_description))
        if info.plane:
            questions.append(("plane", "In which plane is this slice shown?", info.plane.capitalize()))
        for kind, question, answer in questions:
            result.records.append(
                MedixRecord(
                    id=f"{stem}-{kind}",
                    image=[f"images/{name}"],
                    source=source,
                    problem=make_problem(question),
                    solution=f"{tag} {answer}",
                    modality=tag,
                )
            )
    return result
