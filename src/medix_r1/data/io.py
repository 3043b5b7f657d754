"""Read and write MediX records: JSONL, JSON, parquet, a Hugging Face dataset on disk, a hub id.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> rec = MedixRecord.from_dict({"id": "a", "image": [], "source": "s", "problem": "q", "solution": "<OTHER> x"})
>>> write_records([rec], d / "t.jsonl")
PosixPath('...t.jsonl')
>>> [r.id for r in load_records(d / "t.jsonl")]
['a']

Image paths inside a data file are relative to the folder that holds it (for a dataset saved with
``save_to_disk``, the dataset folder itself); :func:`data_root` names that folder.
:func:`iter_rows` is the tolerant reader behind ``medix-r1 data validate``: it yields every row with
its line or row number and keeps going past broken lines; :func:`load_records` is the strict one
and raises :class:`~medix_r1.data.schema.RecordError` on the first problem.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medix_r1.data.schema import MedixRecord, RecordError
from medix_r1.errors import MedixError
from medix_r1.files import atomic_path, write_text_atomic

__all__ = [
    "FORMATS",
    "RawRow",
    "DataSourceError",
    "detect_format",
    "data_root",
    "iter_rows",
    "load_records",
    "load_hub_dataset",
    "write_records",
]

FORMATS: tuple[str, ...] = ("jsonl", "json", "parquet", "hf-disk", "hub")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class DataSourceError(MedixError, ValueError):
    """A data source that cannot be opened at all (missing file, unknown format, unreadable parquet)."""


@dataclass(frozen=True)
class RawRow:
    """One row as read: ``data`` is the decoded mapping, or ``None`` with ``error`` = (field, message)."""

    label: str
    data: Any
    error: tuple[str, str] | None = None

    @property
    def name(self) -> str:
        """``line 3 (id 'rad-1')``: the location and, when known, the record id."""
        record_id = self.data.get("id") if isinstance(self.data, dict) else None
        if isinstance(record_id, (str, int)) and not isinstance(record_id, bool) and str(record_id).strip():
            return f"{self.label} (id {str(self.data['id'])!r})"
        return self.label


def detect_format(source: str | os.PathLike[str]) -> str:
    """One of :data:`FORMATS`, from the suffix, the folder contents, or the ``owner/name`` shape.

    >>> detect_format("train.jsonl"), detect_format("x.parquet"), detect_format("org/medix-data")
    ('jsonl', 'parquet', 'hub')
    """
    path = Path(source)
    if path.is_dir():
        if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            return "hf-disk"
        raise DataSourceError(
            f"{path}: a folder that is not a dataset saved with save_to_disk (no state.json)"
        )
    suffix = "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix
    by_suffix = {
        ".jsonl": "jsonl",
        ".ndjson": "jsonl",
        ".json": "json",
        ".parquet": "parquet",
        ".pq": "parquet",
    }
    if suffix.lower() in by_suffix:
        return by_suffix[suffix.lower()]
    if not path.exists() and _HUB_ID.match(str(source)):
        return "hub"
    if not path.exists():
        raise DataSourceError(f"{source}: no such file, folder or hub dataset id")
    raise DataSourceError(
        f"{source}: unknown data format {path.suffix!r}; expected .jsonl, .json, .parquet or a save_to_disk folder"
    )


def data_root(source: str | os.PathLike[str]) -> Path:
    """The folder image paths are relative to: the data file's folder, or a dataset folder itself."""
    path = Path(source)
    return path.resolve() if path.is_dir() else path.resolve().parent


def _jsonl_rows(path: Path) -> Iterator[RawRow]:
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            label = f"line {number}"
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield RawRow(label, None, ("<line>", f"invalid UTF-8 at byte {exc.start} of the line"))
                continue
            if number == 1 and text.startswith("\ufeff"):
                text = text[1:]  # a byte-order mark written by some editors
            if not text.strip():
                continue
            try:
                yield RawRow(label, json.loads(text))
            except json.JSONDecodeError as exc:
                yield RawRow(label, None, ("<line>", f"invalid JSON: {exc.msg} at column {exc.colno}"))


def _json_rows(path: Path) -> Iterator[RawRow]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        yield RawRow(f"line {line}", None, ("<file>", f"invalid UTF-8 at byte {exc.start} of the file"))
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        yield RawRow(f"line {exc.lineno}", None, ("<file>", f"invalid JSON: {exc.msg} at column {exc.colno}"))
        return
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        yield RawRow(
            "file",
            None,
            ("<file>", f"a .json data file must hold a list of records, got {type(data).__name__}"),
        )
        return
    for index, row in enumerate(data, start=1):
        yield RawRow(f"row {index}", row)


def _parquet_rows(path: Path) -> Iterator[RawRow]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataSourceError(f"{path}: cannot be read as parquet ({exc})") from exc
    for index, row in enumerate(table.to_pylist(), start=1):
        yield RawRow(f"row {index}", row)


def _undecoded(ds: Any) -> Any:
    """The dataset with image columns left as ``{"bytes", "path"}`` mappings (no PIL decode)."""
    from datasets import Image, List, Sequence

    def plain(feature: Any) -> Any:
        if isinstance(feature, Image):
            return Image(decode=False)
        if isinstance(feature, (List, Sequence)):
            return type(feature)(plain(feature.feature))
        return feature

    for name, feature in ds.features.items():
        new = plain(feature)
        if repr(new) != repr(feature):
            ds = ds.cast_column(name, new)
    return ds


def _pick_split(data: Any, split: str | None, source: Any) -> Any:
    if hasattr(data, "keys") and not hasattr(data, "features"):
        splits = list(data.keys())
        if split is None:
            if len(splits) == 1:
                split = splits[0]
            elif "train" in splits:
                split = "train"
            else:
                raise DataSourceError(f"{source}: has splits {splits}; choose one with split=...")
        if split not in splits:
            raise DataSourceError(f"{source}: no split {split!r}; available: {', '.join(splits)}")
        return data[split]
    return data


def _dataset_rows(ds: Any) -> Iterator[RawRow]:
    ds = _undecoded(ds)
    for index, row in enumerate(ds, start=1):
        yield RawRow(f"row {index}", row)


def load_hub_dataset(repo_id: str, *, split: str | None = None, **kwargs: Any) -> Any:
    """``datasets.load_dataset`` for a hub id (or a local dataset folder), with image columns undecoded.

    Needs network for a real hub id; offline it fails fast when ``HF_DATASETS_OFFLINE=1``.
    """
    from datasets import load_dataset

    try:
        data = load_dataset(repo_id, split=split, **kwargs)
    except (FileNotFoundError, ConnectionError, ValueError) as exc:
        raise DataSourceError(f"{repo_id}: cannot load the dataset ({exc})") from exc
    return _undecoded(_pick_split(data, split, repo_id))


def iter_rows(source: str | os.PathLike[str], *, split: str | None = None) -> Iterator[RawRow]:
    """Every row of a data source with its location; unreadable rows carry an error instead of data."""
    fmt = detect_format(source)
    path = Path(source)
    if fmt == "jsonl":
        yield from _jsonl_rows(path)
    elif fmt == "json":
        yield from _json_rows(path)
    elif fmt == "parquet":
        yield from _parquet_rows(path)
    elif fmt == "hf-disk":
        from datasets import load_from_disk

        yield from _dataset_rows(_pick_split(load_from_disk(str(path)), split, source))
    else:
        yield from _dataset_rows(load_hub_dataset(str(source), split=split))


def load_records(
    source: str | os.PathLike[str],
    *,
    split: str | None = None,
    resolve_images: bool = False,
) -> list[MedixRecord]:
    """All records of a data source, checked; the first bad row raises ``RecordError`` naming it.

    ``resolve_images=True`` turns relative image paths into absolute ones (refusing any that leave
    the data folder), so the records can be used from any working directory.
    """
    from medix_r1.data.images import ImageProblem, resolve_image_path

    name = str(source)
    root = data_root(source) if detect_format(source) != "hub" else Path.cwd()
    records: list[MedixRecord] = []
    seen: dict[str, str] = {}
    for row in iter_rows(source, split=split):
        if row.error is not None:
            raise RecordError(row.error[1], file=name, row=row.label, field=row.error[0])
        record = MedixRecord.from_dict(row.data, file=name, row_label=row.name)
        if record.id in seen:
            raise RecordError(
                f"duplicate id, first used at {seen[record.id]}", file=name, row=row.name, field="id"
            )
        seen[record.id] = row.label
        if resolve_images:
            resolved = []
            for i, image in enumerate(record.image):
                if isinstance(image, str) and not image.startswith("data:"):
                    try:
                        image = str(resolve_image_path(image, root))
                    except ImageProblem as exc:
                        raise RecordError(str(exc), file=name, row=row.name, field=f"image[{i}]") from exc
                resolved.append(image)
            record.image = resolved
        records.append(record)
    return records


def _jsonable_image(image: Any) -> Any:
    from medix_r1.data.images import encode_data_uri

    if isinstance(image, (bytes, bytearray)):
        return encode_data_uri(bytes(image))
    if isinstance(image, dict):
        if image.get("bytes"):
            return encode_data_uri(bytes(image["bytes"]))
        return image.get("path")
    return image


def _table_image(image: Any) -> dict[str, Any]:
    if isinstance(image, (bytes, bytearray)):
        return {"bytes": bytes(image), "path": None}
    if isinstance(image, dict):
        return {"bytes": image.get("bytes"), "path": image.get("path")}
    return {"bytes": None, "path": image}


def write_records(
    records: Iterable[MedixRecord | dict[str, Any]],
    destination: str | os.PathLike[str],
    *,
    format: str | None = None,
) -> Path:
    """Write records as JSONL / JSON / parquet, or as a ``save_to_disk`` folder (``format="hf-disk"``).

    The format comes from the suffix unless given. JSONL and JSON embed in-memory image bytes as
    data URIs; parquet and Hugging Face folders keep them as ``{"bytes", "path"}`` structs, and keep
    plain path strings when no record embeds an image. Output is deterministic: same records, same bytes.
    """
    path = Path(destination)
    if format is None:
        format = "hf-disk" if path.suffix == "" else detect_format(path)
    rows = [r.to_dict() if isinstance(r, MedixRecord) else dict(r) for r in records]
    if format == "hub":
        raise DataSourceError(
            "writing to the hub is not supported here; write locally and push_to_hub yourself"
        )
    if format in ("jsonl", "json"):
        for row in rows:
            row["image"] = [_jsonable_image(i) for i in row.get("image") or []]
        if format == "jsonl":
            text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        else:
            text = json.dumps(rows, ensure_ascii=False, indent=1) + "\n"
        write_text_atomic(path, text)
        return path
    # Table formats need one schema: every row gets every column (pyarrow infers from the first row).
    columns = list(dict.fromkeys(key for row in rows for key in row))
    rows = [{key: row.get(key) for key in columns} for row in rows]
    embedded = any(isinstance(i, (bytes, bytearray, dict)) for row in rows for i in row.get("image") or [])
    if embedded:
        for row in rows:
            row["image"] = [_table_image(i) for i in row.get("image") or []]
    if format == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(rows)
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        return path
    if format == "hf-disk":
        from datasets import Dataset

        # Images stay plain {"bytes", "path"} structs: casting to datasets.Image would make
        # save_to_disk read path-only images relative to the working directory.
        dataset = Dataset.from_list(rows)
        with atomic_path(path) as tmp:
            dataset.save_to_disk(str(tmp))
        return path
    raise DataSourceError(f"unknown output format {format!r}; choose one of jsonl, json, parquet, hf-disk")
