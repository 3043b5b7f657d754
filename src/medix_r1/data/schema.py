"""The MediX-R1 training record and its field rules (reference section 2).

A record is one question about zero or more images::

    {"id": "rad-0001", "image": ["images/chest.png"], "source": "vqa-rad",
     "problem": "<image>\\nIs there a pneumothorax?", "solution": "<X_RAY> No",
     "modality": "<X_RAY>", "split": "train"}

``problem`` holds one ``<image>`` placeholder per image; ``solution`` is the modality tag followed by
the short reference answer (the reward reads the tag as the reference modality). ``modality`` and
``split`` are optional conveniences; when ``modality`` is given it must agree with the solution's tag.

Images are paths relative to the data file, or embedded: a ``{"bytes": ..., "path": ...}`` mapping
(the layout Hugging Face ``Image`` columns use) or, in JSONL, a ``data:image/...;base64,`` URI.

>>> r = MedixRecord.from_dict({"id": "a", "image": ["x.png"], "source": "demo",
...     "problem": "<image> Which modality?", "solution": "<CT_SCAN> CT"})
>>> r.tag, r.answer, r.to_dict()["modality"]
('<CT_SCAN>', 'CT', '<CT_SCAN>')
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import Any

from medix_r1.errors import MedixError
from medix_r1.modality import MODALITY_TAGS, UnknownModalityError, is_modality_tag, resolve_modality
from medix_r1.prompting import IMAGE_PLACEHOLDER

__all__ = [
    "IMAGE_PLACEHOLDER",
    "REQUIRED_FIELDS",
    "OPTIONAL_FIELDS",
    "SPLITS",
    "ImageRef",
    "MedixRecord",
    "RecordError",
    "make_problem",
    "make_solution",
    "solution_tag",
    "check_record",
]

REQUIRED_FIELDS: tuple[str, ...] = ("id", "image", "source", "problem", "solution")
OPTIONAL_FIELDS: tuple[str, ...] = ("modality", "split")
SPLITS: tuple[str, ...] = ("train", "validation", "test")

#: An image: a relative path, a data URI, raw bytes, or ``{"bytes": ..., "path": ...}``.
ImageRef = Any

_LEADING_TAG = re.compile(r"\s*(<[^<>\s]*>)")


class RecordError(MedixError, ValueError):
    """A record that breaks the schema: names the file, the row (id or line) and the field."""

    def __init__(
        self, message: str, *, file: str | None = None, row: str | None = None, field: str | None = None
    ):
        self.file, self.row, self.field, self.reason = file, row, field, message
        where = ", ".join(p for p in (file, row, f"field {field!r}" if field else None) if p)
        super().__init__(f"{where}: {message}" if where else message)


def solution_tag(solution: str) -> str | None:
    """The leading ``<...>`` of a solution, or ``None`` when it does not start with a tag.

    >>> solution_tag("<MRI_SCAN> Sagittal"), solution_tag("Sagittal"), solution_tag(" <ct>x")
    ('<MRI_SCAN>', None, '<ct>')
    """
    found = _LEADING_TAG.match(solution)
    return found.group(1) if found else None


def make_solution(modality: str, answer: str) -> str:
    """``"<TAG> answer"`` with the modality resolved through the taxonomy (names, aliases, DICOM codes).

    >>> make_solution("CR", "Chest")
    '<X_RAY> Chest'
    """
    answer = " ".join(answer.split())
    if not answer:
        raise ValueError("a solution needs a non-empty answer after the modality tag")
    return f"{resolve_modality(modality).tag} {answer}"


def make_problem(question: str, n_images: int = 1) -> str:
    """The question with one ``<image>`` placeholder per image in front, one per line.

    >>> make_problem("Which organ is shown?")
    '<image>\\nWhich organ is shown?'
    """
    question = question.strip()
    if IMAGE_PLACEHOLDER in question:
        return question
    return "\n".join([IMAGE_PLACEHOLDER] * n_images + [question])


def check_record(row: Any) -> list[tuple[str, str, str]]:
    """Every schema problem of one raw row as ``(field, code, message)``; empty when the row is valid.

    Image files are not opened here (see :mod:`medix_r1.data.images`); only their number is checked
    against the placeholders.

    >>> check_record({"id": "a", "image": [], "source": "s", "problem": "q", "solution": "no tag"})
    [('solution', 'no_tag', "solution must start with a modality tag such as '<X_RAY>', got 'no tag'")]
    """
    if not isinstance(row, dict):
        return [("<row>", "not_an_object", f"a record must be a JSON object, got {type(row).__name__}")]
    problems: list[tuple[str, str, str]] = []
    for name in REQUIRED_FIELDS:
        if name not in row or row[name] is None:
            problems.append((name, "missing_field", "missing required field"))
    for name in ("id", "source", "problem", "solution"):
        value = row.get(name)
        if value is None:
            continue
        if name == "id" and isinstance(value, int) and not isinstance(value, bool):
            continue
        if not isinstance(value, str):
            problems.append((name, "wrong_type", f"must be a string, got {type(value).__name__}"))
        elif not value.strip():
            problems.append((name, "empty_field", "empty"))
    images = row.get("image")
    n_images: int | None = None
    if images is not None:
        if isinstance(images, (str, dict, bytes)):
            n_images = 1
        elif isinstance(images, (list, tuple)):
            n_images = len(images)
            for i, item in enumerate(images):
                if item is None or (isinstance(item, str) and not item.strip()):
                    problems.append((f"image[{i}]", "empty_field", "empty image reference"))
                elif not isinstance(item, (str, dict, bytes)):
                    problems.append(
                        (
                            f"image[{i}]",
                            "wrong_type",
                            f"must be a path or an embedded image, got {type(item).__name__}",
                        )
                    )
        else:
            problems.append(("image", "wrong_type", f"must be a list of images, got {type(images).__name__}"))
    solution = row.get("solution")
    tag = None
    if isinstance(solution, str) and solution.strip():
        tag = solution_tag(solution)
        if tag is None:
            problems.append(
                (
                    "solution",
                    "no_tag",
                    f"solution must start with a modality tag such as '<X_RAY>', got {solution[:60]!r}",
                )
            )
        elif not is_modality_tag(tag):
            hint = ""
            with contextlib.suppress(UnknownModalityError):
                hint = f"; did you mean {resolve_modality(tag).tag!r}?"  # an alias: its canonical tag
            problems.append(
                (
                    "solution",
                    "unknown_tag",
                    f"unknown modality tag {tag!r}{hint}; valid tags: {' '.join(MODALITY_TAGS)}",
                )
            )
        elif not solution[solution.index(">") + 1 :].strip().strip("."):
            problems.append(("solution", "empty_answer", "no answer text after the modality tag"))
    problem = row.get("problem")
    if isinstance(problem, str) and problem.strip() and n_images is not None:
        count = problem.count(IMAGE_PLACEHOLDER)
        if count != n_images:
            problems.append(
                (
                    "problem",
                    "placeholder_mismatch",
                    f"has {count} '<image>' placeholder(s) but the record has {n_images} image(s)",
                )
            )
    modality = row.get("modality")
    if modality not in (None, ""):
        if not isinstance(modality, str):
            problems.append(("modality", "wrong_type", f"must be a string, got {type(modality).__name__}"))
        elif not is_modality_tag(modality):
            problems.append(
                (
                    "modality",
                    "unknown_tag",
                    f"unknown modality tag {modality!r}; valid tags: {' '.join(MODALITY_TAGS)}",
                )
            )
        elif tag is not None and is_modality_tag(tag) and modality != tag:
            problems.append(
                ("modality", "modality_mismatch", f"{modality!r} disagrees with the solution's tag {tag!r}")
            )
    split = row.get("split")
    if split not in (None, "") and (not isinstance(split, str) or split not in SPLITS):
        problems.append(("split", "unknown_split", f"must be one of {', '.join(SPLITS)}, got {split!r}"))
    extra = [k for k in row if not isinstance(k, str)]
    if extra:
        problems.append(("<row>", "wrong_type", f"field names must be strings, got {extra[:3]!r}"))
    return problems


@dataclass
class MedixRecord:
    """One training or evaluation record. Build it with :meth:`from_dict` to get the checks."""

    id: str
    image: list[ImageRef]
    source: str
    problem: str
    solution: str
    modality: str | None = None
    split: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        """The modality tag that opens the solution."""
        return solution_tag(self.solution) or ""

    @property
    def answer(self) -> str:
        """The reference answer: the solution after its tag, as the reward reads it (reference 3.2)."""
        return self.solution.partition(">")[2].strip().strip(".")

    @property
    def question(self) -> str:
        """The problem without image placeholders."""
        return " ".join(self.problem.replace(IMAGE_PLACEHOLDER, " ").split())

    @classmethod
    def from_dict(cls, row: Any, *, file: str | None = None, row_label: str | None = None) -> MedixRecord:
        """Check a raw row and build the record; the first problem raises :class:`RecordError`."""
        problems = check_record(row)
        if problems:
            name, _code, message = problems[0]
            label = row_label
            if label is None and isinstance(row, dict) and row.get("id") not in (None, ""):
                label = f"id {row['id']!r}"
            raise RecordError(message, file=file, row=label, field=name)
        images = row["image"]
        images = [images] if isinstance(images, (str, dict, bytes)) else list(images)
        # Table formats store every image as a {"bytes", "path"} struct; a path-only one is a path.
        images = [
            i["path"] if isinstance(i, dict) and not i.get("bytes") and i.get("path") else i for i in images
        ]
        known = set(REQUIRED_FIELDS) | set(OPTIONAL_FIELDS)
        return cls(
            id=str(row["id"]),
            image=images,
            source=row["source"],
            problem=row["problem"],
            solution=row["solution"],
            modality=row.get("modality") or solution_tag(row["solution"]),
            split=row.get("split") or None,
            extra={k: v for k, v in row.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        """The record as a plain mapping (schema fields first, then any extra columns)."""
        out: dict[str, Any] = {
            "id": self.id,
            "image": list(self.image),
            "source": self.source,
            "problem": self.problem,
            "solution": self.solution,
            "modality": self.modality or self.tag,
        }
        if self.split:
            out["split"] = self.split
        out.update(self.extra)
        return out
