"""Find evaluation items that leak into training data: same question text, same or near-same image.

Behind ``medix-r1 data contamination TRAIN --against EVAL...``. Questions are compared after
normalisation (case, punctuation, whitespace and ``<image>`` placeholders removed); images by the
hash of their decoded pixels (exact) and by a 64-bit difference hash (near-duplicates: resized or
re-encoded copies). A pair is reported when the question and an image both match, or when an image
matches exactly; question-only matches are counted separately because short generic questions
("What modality is shown?") legitimately repeat.

>>> normalize_question("<image>\\nWhat  is shown?")
'what is shown'
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from medix_r1.data.schema import IMAGE_PLACEHOLDER, MedixRecord

__all__ = ["normalize_question", "Match", "ContaminationReport", "find_contamination"]


def normalize_question(text: str) -> str:
    """Lower-case, accents folded, placeholders, punctuation and repeated spaces removed."""
    text = unicodedata.normalize("NFKD", text.replace(IMAGE_PLACEHOLDER, " "))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


@dataclass(frozen=True)
class Match:
    """One evaluation record that overlaps a training record, and how."""

    eval_file: str
    eval_id: str
    train_id: str
    kind: str  # "question+image", "image-exact" or "image-near"
    distance: int = 0


@dataclass
class ContaminationReport:
    """All overlaps found; ``question_only`` counts eval records whose question text alone matches."""

    matches: list[Match] = field(default_factory=list)
    question_only: dict[str, int] = field(default_factory=dict)
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def contaminated(self) -> bool:
        return bool(self.matches)


def _hashes(record: MedixRecord, root: Path) -> list[tuple[str, int]]:
    from medix_r1.data.images import ImageProblem, dhash, open_image, pixel_sha256

    out = []
    for ref in record.image:
        try:
            img = open_image(ref, root)
        except ImageProblem:
            continue  # unreadable images are the validator's business
        out.append((pixel_sha256(img), dhash(img)))
    return out


def find_contamination(
    train: list[MedixRecord],
    train_root: Path,
    against: dict[str, tuple[list[MedixRecord], Path]],
    *,
    near_bits: int = 4,
    check_images: bool = True,
) -> ContaminationReport:
    """Compare each evaluation set (name -> (records, image root)) with the training records.

    ``near_bits`` is the largest Hamming distance between difference hashes that counts as the
    same picture (0 disables near-duplicate search).
    """
    report = ContaminationReport()
    by_question: dict[str, list[str]] = defaultdict(list)
    for record in train:
        by_question[normalize_question(record.problem)].append(record.id)
    exact: dict[str, list[str]] = defaultdict(list)
    near: dict[int, list[str]] = defaultdict(list)
    if check_images:
        for record in train:
            for sha, dh in _hashes(record, train_root):
                exact[sha].append(record.id)
                near[dh].append(record.id)
    for name, (records, root) in against.items():
        report.checked[name] = len(records)
        report.question_only[name] = 0
        for record in records:
            same_question = set(by_question.get(normalize_question(record.problem), []))
            found: Match | None = None
            for sha, dh in _hashes(record, root) if check_images else []:
                candidates: list[str] = exact.get(sha, [])
                distance, kind = 0, "image-exact"
                if not candidates and near_bits:
                    best = min(((bin(dh ^ t).count("1"), t) for t in near), default=None)
                    if best is not None and best[0] <= near_bits:
                        distance, kind, candidates = best[0], "image-near", near[best[1]]
                if candidates:
                    both = [c for c in candidates if c in same_question]
                    found = (
                        Match(name, record.id, both[0], "question+image", distance)
                        if both
                        else Match(name, record.id, candidates[0], kind, distance)
                    )
                    break
            if found is not None:
                report.matches.append(found)
            elif same_question:
                report.question_only[name] += 1
    return report
