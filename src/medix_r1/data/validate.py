"""Check a data file record by record and report every problem, never stopping at the first.

Behind ``medix-r1 data validate FILE``. Each :class:`Problem` names the row (line or row number and
the record id when one can be read), the field and a one-word ``code``:

====================  ======================================================================
code                  meaning
====================  ======================================================================
invalid_json          a JSONL line (or a .json file) that does not parse
invalid_utf8          bytes that are not UTF-8
not_an_object         a row that is not a JSON object
missing_field         a required field (id, image, source, problem, solution) is absent/null
empty_field           a required text field is empty or blank
wrong_type            a field of the wrong type (e.g. ``image`` a number)
no_tag                ``solution`` does not start with a ``<TAG>``
unknown_tag           the tag is not one of the 16 (``solution`` or ``modality``)
empty_answer          nothing after the tag in ``solution``
modality_mismatch     ``modality`` differs from the solution's tag
unknown_split         ``split`` is not train / validation / test
placeholder_mismatch  number of ``<image>`` in ``problem`` differs from the number of images
duplicate_id          an id already used by an earlier row
image_outside         an image path that leaves the data file's folder
image_missing         an image file that does not exist
image_undecodable     an image that cannot be decoded (truncated, not an image)
image_too_large       more pixels than the limit (decompression-bomb guard)
prompt_too_long       text + image tokens exceed ``max_prompt_tokens``
empty_file            no records at all
====================  ======================================================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medix_r1.data.images import DEFAULT_MAX_IMAGE_PIXELS, ImageProblem, open_image
from medix_r1.data.io import RawRow, data_root, detect_format, iter_rows
from medix_r1.data.prompt_length import PromptCounter
from medix_r1.data.schema import check_record

__all__ = ["Problem", "ValidationReport", "validate_file", "validate_rows"]


@dataclass(frozen=True)
class Problem:
    """One problem: where (``row``), which ``field``, a ``code`` and a human message."""

    row: str
    field: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.row}: {self.field}: {self.message} [{self.code}]"


@dataclass
class ValidationReport:
    """The outcome of validating one source."""

    source: str
    records: int = 0
    problems: list[Problem] = field(default_factory=list)
    images_checked: int = 0
    max_prompt_tokens_seen: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def bad_rows(self) -> int:
        return len({p.row for p in self.problems})


def _image_problem_code(exc: ImageProblem) -> str:
    return f"image_{exc.code}"


def validate_rows(
    rows: Any,
    base_dir: str | os.PathLike[str],
    *,
    report: ValidationReport,
    check_images: bool = True,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    counter: PromptCounter | None = None,
    max_prompt_tokens: int | None = None,
) -> ValidationReport:
    """Check raw rows (:class:`~medix_r1.data.io.RawRow`) and append every problem to ``report``."""
    seen: dict[str, str] = {}
    for row in rows:
        row: RawRow
        report.records += 1
        if row.error is not None:
            code = "invalid_utf8" if "UTF-8" in row.error[1] else "invalid_json"
            report.problems.append(Problem(row.name, row.error[0], code, row.error[1]))
            continue
        issues = check_record(row.data)
        for name, code, message in issues:
            report.problems.append(Problem(row.name, name, code, message))
        data = row.data
        if not isinstance(data, dict):
            continue
        record_id = data.get("id")
        if isinstance(record_id, (str, int)) and not isinstance(record_id, bool) and str(record_id).strip():
            key = str(record_id)
            if key in seen:
                report.problems.append(
                    Problem(
                        row.name, "id", "duplicate_id", f"duplicate id {key!r}, first used at {seen[key]}"
                    )
                )
            else:
                seen[key] = row.label
        images = data.get("image")
        if isinstance(images, (str, dict, bytes)):
            images = [images]
        if not check_images or not isinstance(images, list):
            continue
        sizes: list[tuple[int, int]] = []
        for i, ref in enumerate(images):
            if (
                ref is None
                or not isinstance(ref, (str, dict, bytes))
                or (isinstance(ref, str) and not ref.strip())
            ):
                continue  # already reported by check_record
            report.images_checked += 1
            try:
                img = open_image(ref, base_dir, max_pixels=max_image_pixels)
            except ImageProblem as exc:
                report.problems.append(Problem(row.name, f"image[{i}]", _image_problem_code(exc), str(exc)))
                continue
            except (TypeError, ValueError, OSError, RuntimeError, MemoryError, IndexError, KeyError) as exc:
                # A decoder failing in a way we did not foresee is still a problem of this record's
                # image: report it against the record instead of stopping the whole file.
                report.problems.append(
                    Problem(
                        row.name,
                        f"image[{i}]",
                        "image_undecodable",
                        f"cannot decode ({type(exc).__name__}: {exc})",
                    )
                )
                continue
            sizes.append(img.size)
        problem = data.get("problem")
        if counter is not None and isinstance(problem, str) and len(sizes) == len(images):
            tokens = counter.count(problem, sizes)
            report.max_prompt_tokens_seen = max(report.max_prompt_tokens_seen or 0, tokens)
            if max_prompt_tokens is not None and tokens > max_prompt_tokens:
                report.problems.append(
                    Problem(
                        row.name,
                        "problem",
                        "prompt_too_long",
                        f"prompt is {tokens} tokens with its {len(sizes)} image(s) counted, above the limit of "
                        f"{max_prompt_tokens}; it would be truncated (shrink the images or shorten the question)",
                    )
                )
    if report.records == 0:
        report.problems.append(Problem("file", "<file>", "empty_file", "no records found"))
    return report


def validate_file(
    source: str | os.PathLike[str],
    *,
    split: str | None = None,
    check_images: bool = True,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    counter: PromptCounter | None = None,
    max_prompt_tokens: int | None = None,
) -> ValidationReport:
    """Validate every record of a data source; see the module table for what is checked.

    Raises :class:`~medix_r1.data.io.DataSourceError` only when the source cannot be opened at all.
    """
    if max_prompt_tokens is not None and counter is None:
        raise ValueError("max_prompt_tokens needs a tokenizer: pass counter=load_prompt_counter(path)")
    fmt = detect_format(source)
    base = data_root(source) if fmt != "hub" else Path.cwd()
    report = ValidationReport(str(source))
    return validate_rows(
        iter_rows(source, split=split),
        base,
        report=report,
        check_images=check_images,
        max_image_pixels=max_image_pixels,
        counter=counter,
        max_prompt_tokens=max_prompt_tokens,
    )
