"""One evaluation task: where its rows come from and how a row becomes a sample.

A :class:`TaskSpec` holds the fields of one entry of a ``tasks.yaml`` (the published layout, plus our
``data_files``, ``image_column``, ``image_dir`` and ``grading``) and, for the published tasks that need
one, a quirk (:class:`Quirk`: SLAKE's English filter and image archive, the MIMIC instructions and
credentials). :meth:`TaskSpec.samples` loads the rows and maps each to an :class:`EvalSample` with the
published id ``<task>_<index>`` (index counted after filtering, as published) and a content hash.

Row mapping: exactly the published loader's (``load_dataset_with_params`` of the published
``eval/utils.py``; issue 14), see :meth:`TaskSpec._published_text`. For a single ``question_column``:
question = that column; options from ``choices_column`` (a list of columns, or one column holding a
list or a dict); reference = ``answer_column``, else the option at ``answer_id``. For a list of
question columns (PubMedQA) each column is shown under its capitalised name, the options come from the
static ``choices`` (as YAML read them) and the reference joins the ``answer`` columns with newlines.
Images from image columns are decoded as the ``datasets`` Image feature decodes them.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from medix_r1.errors import MedixError, did_you_mean
from medix_r1.evaluation.files import content_hash
from medix_r1.evaluation.prompts import GRADINGS, OPTION_LETTERS, format_question
from medix_r1.files import atomic_path
from medix_r1.models.cache import cache_root

__all__ = [
    "TaskSpec",
    "Quirk",
    "EvalSample",
    "ImageRef",
    "TaskConfigError",
    "YAML_FIELDS",
    "task_from_fields",
]


class TaskConfigError(MedixError, ValueError):
    """A task entry that cannot be used as written."""


class _NoneForMissing(dict):
    """Row view for instruction templates: a missing column formats as ``None`` (published f-string)."""

    def __missing__(self, key: str) -> None:
        return None


def _yes_no_word(value: Any) -> Any:
    """YAML 1.1 reads unquoted ``yes`` / ``no`` as booleans; ``yes_no_choices`` shows the words."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return value


#: Fields a task entry may carry: the published ones, then ours.
YAML_FIELDS: dict[str, str] = {
    "path": "hub dataset id (or a local dataset folder)",
    "name": "dataset config name (published: 'default' or absent = none); a list loads several",
    "split": "dataset split (default test)",
    "question_column": "column with the question; a list composes several under their names",
    "answer_column": "column with the reference answer text",
    "answer_id": "column with the index (or letter) of the right option; the reference is its text",
    "answer": "list of columns joined by newlines as the reference (published PubMedQA)",
    "choices_column": "list of option columns, or one column holding a list or dict of options",
    "choices": "static option list, shown as YAML reads it (unquoted yes / no are True / False, as published)",
    "data_files": "local json / jsonl / parquet file(s), relative to the YAML file",
    "image_column": "column with the image: a path relative to the YAML (or image_dir), or an image feature",
    "image_dir": "folder that image paths are relative to (relative to the YAML file); default for SLAKE "
    "and MIMIC: the published ./tmp/slake/imgs, ./tmp/mimic when they exist",
    "grading": "binary (default; scale5 when the name contains mimic): 0/1 by majority of three rounds; "
    "scale5: mean of 0-5 rounds / 5",
}


@dataclass(frozen=True)
class Quirk:
    """What one published task does beyond the generic row mapping. Lives with the task's entry in
    the registry, never as a name test elsewhere (STYLE.md rule 6)."""

    #: Keep only rows whose column equals the value (SLAKE: ``q_lang == "en"``).
    keep_if: tuple[tuple[str, Any], ...] = ()
    #: Replaces the question; ``{column}`` fields are filled from the row (MIMIC tasks).
    instruction: str | None = None
    #: Never attach an image even if the row has one (MIMIC summarisation).
    text_only: bool = False
    #: Hub dataset file (zip) holding the images named by ``image_column`` (SLAKE's ``imgs.zip``).
    image_archive: tuple[str, str] | None = None
    #: Environment variables holding user name and password for image URLs (PhysioNet).
    credentials_env: tuple[str, str] | None = None
    #: Row rewrite run before the generic mapping (MMMU: options as a Python list string, letter answers).
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    #: Folder, relative to the working directory, where the published harness keeps this task's image
    #: files (``tmp/slake/imgs``, ``tmp/mimic``); used when the entry sets no ``image_dir``.
    published_image_dir: str | None = None
    #: Find an image by the last part of its path or URL in the image folder (published MIMIC).
    image_by_basename: bool = False


@dataclass(frozen=True)
class ImageRef:
    """An image of a sample, loaded lazily: bytes in memory, a local path or a (credentialed) URL."""

    sha: str
    data: bytes | None = None
    path: str | None = None
    url: str | None = None
    credentials_env: tuple[str, str] | None = None
    #: Apply the EXIF orientation as the ``datasets`` Image feature does when it decodes (published
    #: behaviour for image columns); files the published harness opens itself (SLAKE's ``img_name``,
    #: MIMIC) are not transposed.
    exif_transpose: bool = True
    #: The ``mode`` of the ``datasets.Image`` feature, applied after decoding as the feature does.
    decode_mode: str | None = None
    #: Where the image comes from (task, sample, file and row), for messages; not part of its identity.
    origin: str = field(default="", compare=False)

    def read_bytes(self, cache_dir: Path | None = None) -> bytes:
        if self.data is not None:
            return self.data
        if self.path is not None:
            return Path(self.path).read_bytes()
        if self.url is not None:
            return _download(self.url, self.credentials_env, cache_dir)
        raise ValueError("image reference without data, path or url")

    def to_pil(self, cache_dir: Path | None = None) -> Any:
        """The RGB image the published harness sends: decoded as ``datasets.Image`` decodes (the EXIF
        orientation applied when the file has one), unless :attr:`exif_transpose` is off."""
        from PIL import Image, ImageOps

        data = self.read_bytes(cache_dir)
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except (OSError, SyntaxError, ValueError) as exc:  # PIL's UnidentifiedImageError is an OSError
            reason = (
                re.sub(r"<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "the data", str(exc)) or type(exc).__name__
            )
            where = f"{self.origin}: " if self.origin else ""
            raise TaskConfigError(
                f"{where}image {self.describe()} ({len(data)} bytes) is not a readable image ({reason}); "
                "fix or replace the file"
            ) from None
        if self.exif_transpose and image.getexif().get(Image.ExifTags.Base.Orientation) is not None:
            image = ImageOps.exif_transpose(image)
        if self.decode_mode and self.decode_mode != image.mode:
            image = image.convert(self.decode_mode)
        return image.convert("RGB")

    def to_data_url(self, cache_dir: Path | None = None) -> str:
        """JPEG of the RGB image as a ``data:`` URL, as the published harness sends it."""
        buf = io.BytesIO()
        self.to_pil(cache_dir).save(buf, format="JPEG")
        return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()

    def describe(self) -> str | None:
        return self.path or self.url or f"<bytes sha {self.sha}>"


def _download(url: str, credentials_env: tuple[str, str] | None, cache_dir: Path | None) -> bytes:
    """Fetch an image URL once into the cache. Credentials come from the environment only."""
    import httpx

    cache = Path(cache_dir or cache_root() / "images")
    target = cache / hashlib.sha256(url.encode()).hexdigest()[:16] / url.rstrip("/").split("/")[-1]
    if target.exists():
        return target.read_bytes()
    auth = None
    if credentials_env:
        user, password = (os.environ.get(name) for name in credentials_env)
        if not user or not password:
            raise TaskConfigError(
                f"image {url} needs credentials: set the environment variables {credentials_env[0]} and "
                f"{credentials_env[1]} (e.g. in a .env file you source); they are never read from the command line"
            )
        auth = (user, password)
    response = httpx.get(url, auth=auth, follow_redirects=True, timeout=120)
    if response.status_code != 200:
        raise TaskConfigError(f"downloading {url} failed with HTTP {response.status_code}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(response.content)
    return response.content


@dataclass(frozen=True)
class EvalSample:
    """One question of one task, ready to send."""

    id: str
    task: str
    index: int
    question: str
    answer: str
    grading: str = "binary"
    image: ImageRef | None = None
    answer_idx: Any = None
    hash: str = ""


@dataclass(frozen=True)
class TaskSpec:
    """One task: the published ``tasks.yaml`` fields, ours, and the task's quirk."""

    name: str
    group: str = "llm"  # llm (text), vlm (image) or extra
    path: str | None = None
    subset: str | list[str] | None = None  # the YAML's `name`
    split: str = "test"
    question_column: str | list[str] | None = None
    answer_column: str | None = None
    answer_id: str | None = None
    answer: list[str] | None = None
    choices_column: str | list[str] | None = None
    choices: list[str] | None = None
    data_files: list[str] | dict[str, list[str]] | None = None
    image_column: str | None = None
    image_dir: str | None = None
    grading: str = "binary"
    base_dir: str | None = None  # folder of the YAML the entry came from
    quirk: Quirk = field(default_factory=Quirk)
    expected_size: int | None = None  # published size, used by `leaderboard verify`
    description: str = ""

    # -- rows -------------------------------------------------------------------------------------
    def _resolve(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() or self.base_dir is None else Path(self.base_dir) / p

    def rows(self) -> Iterator[dict[str, Any]]:
        """The raw rows, from local files when ``data_files`` is set, else from the hub."""
        for _source, _number, row in self.sourced_rows():
            yield row

    def sourced_rows(self) -> Iterator[tuple[str, int, dict[str, Any]]]:
        """``(file or dataset, row number from 1, row)`` for every raw row (see :meth:`rows`)."""
        if self.data_files is not None:
            files = self.data_files
            if isinstance(files, dict):
                if self.split not in files:
                    raise TaskConfigError(
                        f"task {self.name}: data_files has splits {sorted(files)}, not {self.split!r}"
                    )
                files = files[self.split]
            for f in [files] if isinstance(files, str) else files:
                path = self._resolve(f)
                for number, row in enumerate(_read_local(path, self.name), 1):
                    yield str(path), number, row
            return
        if not self.path:
            raise TaskConfigError(f"task {self.name}: give `path` (hub dataset) or `data_files` (local)")
        source = f"{self.path} ({self.split})"
        for number, row in enumerate(_read_hub(self), 1):
            yield source, number, row

    def samples(self, limit: int | None = None, *, yes_no_choices: bool = False) -> list[EvalSample]:
        """The task's samples, checked before any is sent: every column the entry names exists in the
        data, and each row has a question, a reference and (where named) an image; an error names the
        task, the file, the row and the field."""
        image_dir = self._image_dir()
        kept: list[tuple[str, int, dict[str, Any]]] = []
        columns: set[str] = set()
        for source, number, row in self.sourced_rows():
            if limit is not None and len(kept) >= limit:
                break
            if not isinstance(row, dict):
                raise TaskConfigError(f"task {self.name}: {source}, row {number} is not an object")
            if self.quirk.prepare is not None:
                row = self.quirk.prepare(row)
            if any(row.get(col) != value for col, value in self.quirk.keep_if):
                continue
            kept.append((source, number, row))
            columns.update(row)
        if not kept:
            if limit == 0:
                return []
            where = ", ".join(str(f) for f in (self.data_files or [])) if self.data_files else self.path
            raise TaskConfigError(f"task {self.name}: no rows to evaluate in {where}")
        self.check_columns(columns, kept[0][0])
        out: list[EvalSample] = []
        for source, number, row in kept:
            try:
                sample = self.sample_from_row(
                    row, len(out), image_dir=image_dir, yes_no_choices=yes_no_choices
                )
            except TaskConfigError as exc:
                raise TaskConfigError(f"{exc} ({source}, row {number})") from None
            if sample.image is not None:
                origin = f"task {self.name}, sample {sample.id} ({source}, row {number})"
                sample = replace(sample, image=replace(sample.image, origin=origin))
            out.append(sample)
        return out

    def named_columns(self) -> list[tuple[str, str]]:
        """``(field, column)`` for every column the entry names (the instruction quirk replaces the
        question, so its question column is not needed)."""
        named: list[tuple[str, str]] = []

        def add(key: str, value: Any) -> None:
            for col in [value] if isinstance(value, str) else list(value or []):
                if isinstance(col, str) and col:
                    named.append((key, col))

        if self.quirk.instruction is None:
            add("question_column", self.question_column)
        add("answer_column", self.answer_column)
        add("answer_id", self.answer_id)
        add("answer", self.answer)
        add("choices_column", self.choices_column)
        add("image_column", self.image_column)
        return named

    def check_columns(self, columns: set[str], source: str) -> None:
        """Stop when a named column appears in none of the rows (a typo would send empty questions)."""
        for key, col in self.named_columns():
            if col not in columns:
                shown = ", ".join(sorted(columns)[:30]) + (" ..." if len(columns) > 30 else "")
                raise TaskConfigError(
                    f"task {self.name}: {key} {col!r} is not a column of {source}"
                    f"{did_you_mean(col, sorted(columns))}; its columns: {shown}"
                )

    def _image_dir(self) -> Path | None:
        """The folder image names are relative to: ``image_dir`` of the entry; else the published
        harness's folder when it exists; else (SLAKE from the hub only) the dataset's image archive,
        downloaded once. A local dataset never downloads: without a folder it is an error that names
        the task and the key to set."""
        if self.image_dir:
            folder = self._resolve(self.image_dir)
            if not folder.is_dir():
                raise TaskConfigError(
                    f"task {self.name}: image_dir {self.image_dir!r} is not a folder ({folder}); "
                    "set `image_dir:` in the task entry to the folder holding its images"
                )
            return folder
        published = self.quirk.published_image_dir
        if published and Path(published).is_dir():
            return Path(published).resolve()
        if self.quirk.image_archive:
            if self.data_files is None and self.local_path() is None:
                return _fetch_archive(*self.quirk.image_archive)
            raise TaskConfigError(
                f"task {self.name}: its rows name image files ({self.image_column or 'img_name'!r}) but no image folder "
                f"is given: set `image_dir:` in the task entry (relative to the YAML file)"
                + (f", or put the images in ./{published} as the published harness does" if published else "")
            )
        return None

    def local_path(self) -> Path | None:
        """The dataset folder or file when ``path`` names a local one (then nothing is downloaded).

        Tried as the published harness does (relative to the working directory), then relative to the
        YAML file. A path written as a local one (``/``, ``./``, ``../``, ``~``) that does not exist is
        an error, never a hub id.
        """
        if not self.path:
            return None
        candidates = [Path(self.path).expanduser()]
        if self.base_dir is not None and not candidates[0].is_absolute():
            candidates.append(Path(self.base_dir) / self.path)
        for candidate in candidates:
            if candidate.exists():
                return candidate.resolve()
        if self.path.startswith(("/", "./", "../", "~", ".\\")):
            raise TaskConfigError(
                f"task {self.name}: dataset folder {self.path!r} does not exist (looked in "
                f"{', '.join(str(c) for c in candidates)}); fix `path:` in the task entry"
            )
        return None

    # -- one row ----------------------------------------------------------------------------------
    def sample_from_row(
        self,
        row: dict[str, Any],
        index: int,
        *,
        image_dir: Path | None = None,
        yes_no_choices: bool = False,
    ) -> EvalSample:
        """Map one raw row to a sample: the published question text (see :func:`_published_text`),
        this task's instruction quirk, the reference and the image."""
        sid = f"{self.name}_{index}"
        text, choices = self._published_text(row, sid, yes_no_choices)
        if self.quirk.instruction is not None:
            # Published: the fixed instruction replaces the whole text, options included; a column
            # the row lacks shows as ``None``, as the published f-string does.
            text = self.quirk.instruction.format_map(_NoneForMissing(row))
        text = text.strip()
        if self.quirk.instruction is None and not choices:
            # A row with options but no question text is sent as the published harness sends it (the
            # text starts at ``Choices:``); with neither there is nothing to ask.
            self._require_question(row, sid)
        answer = self._reference(row, choices, sid)
        image = None if self.quirk.text_only else self._image(row, sid, image_dir)
        return EvalSample(
            id=sid,
            task=self.name,
            index=index,
            question=text,
            answer=answer,
            grading=self.grading,
            image=image,
            answer_idx=row.get("answer_idx"),
            hash=content_hash(self.name, text, answer, image.sha if image else None, self.grading),
        )

    def _require_question(self, row: dict[str, Any], sid: str) -> None:
        """A question to send: the question column (or one of a list of them) holds some text."""
        qc = self.question_column
        cols = [qc] if isinstance(qc, str) and qc else list(qc or []) if isinstance(qc, list) else []
        if not cols:
            raise TaskConfigError(f"task {self.name}: give question_column (the column with the question)")
        if all(_is_empty(row.get(col)) for col in cols):
            what = f"question column {cols[0]!r} is" if len(cols) == 1 else f"question columns {cols} are"
            raise TaskConfigError(f"task {self.name}, row {sid}: {what} empty")

    def _published_text(self, row: dict[str, Any], sid: str, yes_no_choices: bool) -> tuple[str, list[Any]]:
        """The candidate's text before the final strip, and the options, built as the published
        loader builds them (``eval/utils.py``, ``load_dataset_with_params``):

        - a list of question columns (PubMedQA): ``Name:\nvalue\n\n`` per column (a list value shows
          its first item), then ``Choices:`` and the static ``choices``;
        - one question column: its value (nothing for a missing one); ``\n\nChoices:`` whenever
          ``choices_column`` is a non-empty list or a column name, even when the row has no option;
        - one ``\nA. option`` line per option that is not ``None`` (the letter still counts);
        - only the whole text is stripped (:func:`format_question`): whitespace before ``Choices:`` stays.

        Option values are shown as Python prints them, so YAML's unquoted ``yes`` / ``no`` (booleans)
        show as ``True`` / ``False``; ``yes_no_choices`` shows them as the words instead (a deliberate
        difference, off by default because it changes scores).
        """
        qc = self.question_column
        choices: list[Any] | None
        if isinstance(qc, list):
            parts = []
            for col in qc:
                value = row.get(col)
                if isinstance(value, list):
                    value = value[0] if value else ""
                parts.append(f"{col.lower().capitalize()}:\n{value}")
            text = "\n\n".join(parts)
            choices = list(self.choices) if self.choices is not None else []
            if yes_no_choices:
                choices = [_yes_no_word(c) for c in choices]
        else:
            value = row.get(qc) if qc is not None else None
            text = "" if value is None else f"{value}"
            cc = self.choices_column
            choices = None  # no options block at all
            if isinstance(cc, list) and cc:
                choices = [row.get(col) for col in cc]
            elif isinstance(cc, str):
                choices = self._column_choices(row, cc, sid)
        if choices is not None and len(choices) > len(OPTION_LETTERS):
            raise TaskConfigError(
                f"task {self.name}, row {sid}: {len(choices)} options; the prompt has letters for "
                f"{len(OPTION_LETTERS)}"
            )
        return format_question(text, choices), choices or []

    def _column_choices(self, row: dict[str, Any], column: str, sid: str) -> list[Any]:
        value = row.get(column)
        if value is None:
            return []
        if isinstance(value, dict):
            return list(value.values())
        if isinstance(value, str):
            raise TaskConfigError(
                f"task {self.name}, row {sid}: choices column {column!r} holds text, expected a list or dict"
            )
        return list(value)

    def _reference(self, row: dict[str, Any], choices: list[Any], sid: str) -> str:
        """Published precedence: a list of question columns joins the ``answer`` columns; otherwise
        ``answer_column`` wins over ``answer_id`` (the option at that index)."""
        if self.answer and isinstance(self.question_column, list):
            return self._joined_answer(row, sid)
        if self.answer_column:
            value = row.get(self.answer_column)
            if _is_empty(value):
                raise TaskConfigError(
                    f"task {self.name}, row {sid}: answer column {self.answer_column!r} is empty"
                )
            return str(value).strip()
        if self.answer_id:
            key = row.get(self.answer_id)
            index = _option_index(key)
            if index is None or not 0 <= index < len(choices) or choices[index] is None:
                raise TaskConfigError(
                    f"task {self.name}, row {sid}: answer_id {self.answer_id!r} = {key!r} does not name one "
                    f"of the {len(choices)} options"
                )
            if _is_empty(choices[index]):
                raise TaskConfigError(
                    f"task {self.name}, row {sid}: the option that answer_id {self.answer_id!r} names is empty"
                )
            return str(choices[index]).strip()
        if self.answer:
            return self._joined_answer(row, sid)
        raise TaskConfigError(f"task {self.name}: give answer_column, answer_id or answer")

    def _joined_answer(self, row: dict[str, Any], sid: str = "") -> str:
        text = "".join(
            f"{'' if row.get(col) is None else row.get(col)}\n" for col in self.answer or []
        ).strip()
        if not text:
            raise TaskConfigError(f"task {self.name}, row {sid}: answer columns {self.answer} are empty")
        return text

    def _image(self, row: dict[str, Any], sid: str, image_dir: Path | None) -> ImageRef | None:
        if self.image_column:
            value = row.get(self.image_column)
            if _is_empty(value):
                raise TaskConfigError(
                    f"task {self.name}, row {sid}: image column {self.image_column!r} is empty"
                )
        else:  # published auto-detection: the first of these columns with a (truthy) value
            columns = ("img_name", "image", "image_id") if self.quirk.image_archive else ("image", "image_id")
            value = next((row[c] for c in columns if row.get(c)), None)
            if value is None:
                return None
        return self._image_ref(value, sid, image_dir)

    def _image_ref(self, value: Any, sid: str, image_dir: Path | None) -> ImageRef:
        if isinstance(value, (list, tuple)):
            if not value:
                raise TaskConfigError(f"task {self.name}, row {sid}: empty image list")
            value = value[0]
        mode = None
        if isinstance(value, dict):
            mode = value.get("mode")
            if value.get("bytes"):
                value = value["bytes"]
            elif value.get("path"):
                value = value["path"]
            else:
                raise TaskConfigError(f"task {self.name}, row {sid}: image feature without bytes or path")
        if isinstance(value, (bytes, bytearray)):
            if not value:
                raise TaskConfigError(f"task {self.name}, row {sid}: image bytes are empty")
            data = bytes(value)
            return ImageRef(sha=hashlib.sha256(data).hexdigest()[:16], data=data, decode_mode=mode)
        if hasattr(value, "save") and hasattr(value, "mode"):  # a decoded PIL image (already transposed)
            buf = io.BytesIO()
            value.save(buf, format="PNG")
            data = buf.getvalue()
            return ImageRef(sha=hashlib.sha256(data).hexdigest()[:16], data=data, exif_transpose=False)
        if isinstance(value, str):
            # Files the published harness opens itself (SLAKE's img_name, MIMIC) keep their stored
            # orientation; other image paths are decoded as the datasets Image feature decodes.
            raw = bool(self.quirk.image_archive or self.quirk.image_by_basename)
            is_url = value.startswith(("http://", "https://"))
            if is_url or self.quirk.image_by_basename:
                local = image_dir / value.rstrip("/").split("/")[-1] if image_dir else None
                if local is not None and local.exists():
                    return ImageRef(sha=_file_sha(local), path=str(local), exif_transpose=not raw)
                for p in ([image_dir / value] if image_dir and not is_url else []) + [
                    Path(value).expanduser()
                ]:
                    if not is_url and p.is_file():  # a nested folder, or a path used as it is
                        return ImageRef(sha=_file_sha(p), path=str(p), exif_transpose=not raw)
                if not is_url:
                    raise TaskConfigError(
                        f"task {self.name}, row {sid}: image {value!r} is not in the image folder "
                        f"{image_dir}; set `image_dir:` in the task entry"
                    )
                return ImageRef(
                    sha=content_hash(value),
                    url=value,
                    credentials_env=self.quirk.credentials_env,
                    exif_transpose=not raw,
                )
            p = Path(value).expanduser()
            if not p.is_absolute():
                p = (image_dir / p) if image_dir is not None else self._resolve(value)
            if not p.exists():
                raise TaskConfigError(
                    f"task {self.name}, row {sid}: image file {p} does not exist; set `image_dir:` in the "
                    "task entry to the folder holding the images"
                )
            if not p.is_file() or p.stat().st_size == 0:
                raise TaskConfigError(
                    f"task {self.name}, row {sid}: image {p} is "
                    + ("a folder, not a file" if p.is_dir() else "an empty file")
                )
            return ImageRef(sha=_file_sha(p), path=str(p), exif_transpose=not raw, decode_mode=mode)
        raise TaskConfigError(
            f"task {self.name}, row {sid}: cannot read an image from a {type(value).__name__}"
        )


def _file_sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _is_empty(value: Any) -> bool:
    """No value, or only whitespace (an empty list, text or bytes)."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, bytes, bytearray, dict)):
        return len(value) == 0
    return False


def _option_index(key: Any) -> int | None:
    if isinstance(key, bool):
        return None
    if isinstance(key, int):
        return key
    if isinstance(key, float) and key.is_integer():
        return int(key)
    if isinstance(key, str):
        k = key.strip()
        if k.isdigit():
            return int(k)
        if len(k) == 1 and k.upper() in OPTION_LETTERS:
            return OPTION_LETTERS.index(k.upper())
    return None


# -- sources ----------------------------------------------------------------------------------------
def _read_local(path: Path, task: str) -> Iterator[dict[str, Any]]:
    if not path.exists():
        raise TaskConfigError(f"task {task}: data file {path} does not exist")
    suffix = "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix
    if suffix in (".jsonl", ".ndjson"):
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except ValueError as exc:
                        raise TaskConfigError(f"task {task}: {path}, line {lineno}: {exc}") from None
    elif suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            data = data["data"]
        if not isinstance(data, list):
            raise TaskConfigError(f"task {task}: {path} must hold a JSON list of rows (or {{'data': [...]}})")
        yield from data
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        yield from pq.read_table(path).to_pylist()
    else:
        raise TaskConfigError(f"task {task}: {path}: use .jsonl, .json or .parquet data files")


def _read_hub(spec: TaskSpec) -> Iterator[dict[str, Any]]:
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - the eval extra pulls it
        raise ImportError("hub tasks need `datasets`: pip install 'medix-r1[eval]'") from exc
    names: list[str | None]
    if isinstance(spec.subset, list):
        names = list(spec.subset)
    else:
        names = [None if spec.subset in (None, "default") else spec.subset]
    local = spec.local_path()
    for name in names:
        ds = datasets.load_dataset(
            str(local) if local is not None else spec.path, name=name, split=spec.split
        )
        # Images stay encoded: hashing and sending need the bytes, not a decoded bitmap. A feature's
        # `mode` travels with each value, so decoding later gives what the feature would have given.
        modes: dict[str, str] = {}
        for col, feature in ds.features.items():
            if isinstance(feature, datasets.Image):
                if feature.mode:
                    modes[col] = feature.mode
                ds = ds.cast_column(col, datasets.Image(decode=False))
        for row in ds:
            for col, mode in modes.items():
                if isinstance(row.get(col), dict):
                    row[col] = {**row[col], "mode": mode}
            yield row


def _fetch_archive(repo_id: str, filename: str) -> Path:
    """Download and unpack a dataset's image archive once (SLAKE's ``imgs.zip``); the images folder."""
    import zipfile

    cache = cache_root() / "archives"
    target = cache / repo_id.replace("/", "__") / Path(filename).stem
    if not target.exists():
        from huggingface_hub import hf_hub_download

        archive = hf_hub_download(repo_id=repo_id, filename=filename, repo_type="dataset")
        with zipfile.ZipFile(archive) as zf, atomic_path(target) as tmp:
            for member in zf.namelist():
                if member.startswith("/") or ".." in Path(member).parts:
                    raise TaskConfigError(f"{filename} from {repo_id} holds an unsafe path {member!r}")
            zf.extractall(tmp)
    inner = target / Path(filename).stem  # imgs.zip unpacks to imgs/...
    return inner if inner.is_dir() else target


# -- YAML entries -----------------------------------------------------------------------------------
def task_from_fields(
    name: str,
    fields: dict[str, Any] | None,
    *,
    group: str,
    base_dir: Path | None = None,
    defaults: TaskSpec | None = None,
) -> TaskSpec:
    """Build a task from one YAML entry. A published task name brings its quirk and expected size
    (``defaults``); the entry's own fields win.

    An entry with a ``path`` is in the published layout and is read as the published loader reads it:
    a field it leaves out has the published default (split ``test``, no config name, no options), never
    our registry's value. An entry without ``path`` (local ``data_files``, our addition) takes the
    registry's columns for the fields it leaves out."""
    fields = dict(fields or {})
    unknown = sorted(set(fields) - set(YAML_FIELDS))
    if unknown:
        hints = "; ".join(f"unknown field {key!r}{did_you_mean(key, YAML_FIELDS)}" for key in unknown)
        raise TaskConfigError(f"task {name}: {hints}; accepted: {', '.join(YAML_FIELDS)}")
    # The published layout's name rule: a task whose name contains "mimic" is graded 0-5 (the mean of
    # three rounds / 5) and its images are looked up by file name in tmp/mimic; all others are binary.
    mimic_rule = "mimic" in name
    grading = fields.get("grading", defaults.grading if defaults else ("scale5" if mimic_rule else "binary"))
    if grading not in GRADINGS:
        raise TaskConfigError(f"task {name}: grading {grading!r} is not one of {', '.join(GRADINGS)}")
    if (defaults is None or "path" in fields) and not {"answer_column", "answer_id", "answer"} & set(fields):
        raise TaskConfigError(f"task {name}: give answer_column, answer_id or answer (a list of columns)")
    for key in ("question_column", "answer", "choices", "choices_column"):
        value = fields.get(key)
        if value is not None and not isinstance(value, (str, list)):
            raise TaskConfigError(f"task {name}: {key} must be a column name or a list, got {value!r}")
    # Static options stay as YAML read them (unquoted yes / no are booleans, shown True / False).
    choices = fields.get("choices")
    data_files = fields.get("data_files")
    if isinstance(data_files, str):
        data_files = [data_files]
    base = defaults if defaults is not None else TaskSpec(name=name)
    if defaults is not None and "path" in fields:
        base = TaskSpec(
            name=name,
            group=defaults.group,
            grading=defaults.grading,
            quirk=defaults.quirk,
            expected_size=defaults.expected_size,
            description=defaults.description,
        )
    if defaults is None and mimic_rule:
        base = replace(base, quirk=Quirk(published_image_dir="tmp/mimic", image_by_basename=True))
    updates: dict[str, Any] = {
        "name": name,
        "group": group,
        "grading": grading,
        "base_dir": str(base_dir) if base_dir is not None else base.base_dir,
    }
    mapping = {
        "path": "path",
        "name": "subset",
        "split": "split",
        "question_column": "question_column",
        "answer_column": "answer_column",
        "answer_id": "answer_id",
        "answer": "answer",
        "choices_column": "choices_column",
        "image_column": "image_column",
        "image_dir": "image_dir",
    }
    for key, attr in mapping.items():
        if key in fields:
            updates[attr] = fields[key]
    if "choices" in fields:
        updates["choices"] = choices
    if "data_files" in fields:
        updates["data_files"] = data_files
    if "answer_column" in fields or "answer_id" in fields or "answer" in fields:
        # The entry states its reference: drop any inherited way of building it.
        for attr in ("answer_column", "answer_id", "answer"):
            updates.setdefault(attr, None)
    return replace(base, **updates)


def parse_python_list(text: Any) -> list[Any]:
    """MMMU stores options as the text of a Python list."""
    if isinstance(text, list):
        return text
    value = ast.literal_eval(text) if isinstance(text, str) and text.strip() else []
    if not isinstance(value, list):
        raise TaskConfigError(f"expected a list of options, got {text!r}")
    return value
