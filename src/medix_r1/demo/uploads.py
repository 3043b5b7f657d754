"""Check and decode what a person uploads to the demo: a PNG, a JPEG or a DICOM file, within limits.

The demo accepts an upload only when it is one of those three formats, no larger than
:data:`MAX_UPLOAD_BYTES` on disk and :data:`MAX_UPLOAD_PIXELS` decoded. DICOM files are recognised
by their ``DICM`` preamble or a ``.dcm`` / ``.dicom`` name and decoded by the data layer
(:mod:`medix_r1.data.dicom`: windowing, MONOCHROME1 inversion, palettes), so the model sees what a
radiologist's viewer would show. Every refusal is an :class:`UploadError` whose message is written
for the person at the browser: what was wrong with which file, and what to upload instead.

>>> read_upload(b"hello", name="notes.txt")
Traceback (most recent call last):
...
medix_r1.demo.uploads.UploadError: 'notes.txt' is not an image: upload a PNG, JPEG or DICOM (.dcm) file.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medix_r1.errors import MedixError

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = [
    "ACCEPTED_FORMATS",
    "ACCEPTED_TEXT",
    "MAX_UPLOAD_BYTES",
    "MAX_UPLOAD_PIXELS",
    "UploadError",
    "read_upload",
]

#: Pillow format names accepted besides DICOM (the issue's "PNG, JPEG, or a DICOM file").
ACCEPTED_FORMATS: tuple[str, ...] = ("PNG", "JPEG")
ACCEPTED_TEXT = "a PNG, JPEG or DICOM (.dcm) file"
#: 64 MB: a CT or MR slice is well under 1 MB, an uncompressed digital radiograph or mammogram is
#: 8-50 MB; multi-frame cine loops above this are refused rather than read into memory.
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
#: 40 MP decoded: a 6000x6000 mammogram fits; the processor shrinks everything to a few hundred
#: thousand pixels anyway, so larger images only cost memory (and may be decompression bombs).
MAX_UPLOAD_PIXELS = 40_000_000

_DICOM_SUFFIXES = (".dcm", ".dicom")


class UploadError(MedixError, ValueError):
    """An upload the demo cannot use. ``code``: ``empty``, ``too_large``, ``unsupported``,
    ``not_an_image``, ``unreadable`` or ``missing``; the message is meant to be shown as is."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def _read_bytes(source: Any, name: str | None, max_bytes: int) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        label = name or "the upload"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = name or path.name
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise UploadError(
                "missing", f"The uploaded file {label!r} cannot be found ({exc.strerror})."
            ) from exc
        if size > max_bytes:  # checked before reading, so a huge file never enters memory
            raise UploadError(
                "too_large",
                f"{label!r} is {_megabytes(size)}; the limit is {_megabytes(max_bytes)}. "
                "Upload a single image or slice (export one frame of a cine loop).",
            )
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UploadError(
                "missing", f"The uploaded file {label!r} cannot be read ({exc.strerror})."
            ) from exc
    else:
        raise TypeError(f"an upload is a file path or bytes, got {type(source).__name__}")
    if len(data) > max_bytes:
        raise UploadError(
            "too_large", f"{label!r} is {_megabytes(len(data))}; the limit is {_megabytes(max_bytes)}."
        )
    if not data:
        raise UploadError("empty", f"{label!r} is empty: upload {ACCEPTED_TEXT}.")
    return data, label


def _decode_dicom(data: bytes, label: str, max_pixels: int) -> Image.Image:
    from medix_r1.data.dicom import DicomDecodeError, dicom_to_image, read_dicom

    try:
        ds = read_dicom(data)
        pixels = int(ds.get("Rows", 0) or 0) * int(ds.get("Columns", 0) or 0)
        if pixels > max_pixels:
            raise UploadError(
                "too_large",
                f"The DICOM file {label!r} has {pixels:,} pixels per frame; the limit is {max_pixels:,}.",
            )
        img = dicom_to_image(ds)
    except DicomDecodeError as exc:
        reason = re.sub(r"^<\w+>: ", "", str(exc)).rstrip(".")
        raise UploadError("unreadable", f"The DICOM file {label!r} cannot be shown: {reason}.") from exc
    return img.convert("RGB")


def _looks_like_dicom(data: bytes, label: str) -> bool:
    return data[128:132] == b"DICM" or label.lower().endswith(_DICOM_SUFFIXES)


def read_upload(
    source: str | os.PathLike[str] | bytes,
    *,
    name: str | None = None,
    max_bytes: int = MAX_UPLOAD_BYTES,
    max_pixels: int = MAX_UPLOAD_PIXELS,
) -> Image.Image:
    """Decode an uploaded PNG, JPEG or DICOM file (a path or its bytes) into an RGB image.

    ``name`` is the file name shown in messages (default: the path's name).

    Raises:
        UploadError: empty, too large (bytes or pixels), another format, not an image, or an
            undecodable DICOM file (e.g. a compressed transfer syntax without its decoder plugin).
    """
    from PIL import Image, UnidentifiedImageError

    data, label = _read_bytes(source, name, max_bytes)
    if _looks_like_dicom(data, label):
        return _decode_dicom(data, label, max_pixels)
    try:
        with Image.open(io.BytesIO(data)) as probe:  # reads the header only
            fmt = probe.format or "unknown"
    except UnidentifiedImageError:
        # DICOM files exported without the 128-byte preamble (and without a .dcm name) still parse.
        from medix_r1.data.dicom import DicomDecodeError, read_dicom

        try:
            with warnings.catch_warnings():  # pydicom warns about every oddity of non-DICOM bytes
                warnings.simplefilter("ignore")
                read_dicom(data, pixels=False)
        except DicomDecodeError:
            raise UploadError("not_an_image", f"{label!r} is not an image: upload {ACCEPTED_TEXT}.") from None
        return _decode_dicom(data, label, max_pixels)
    if fmt not in ACCEPTED_FORMATS:
        raise UploadError("unsupported", f"{label!r} is a {fmt} image; upload {ACCEPTED_TEXT} instead.")
    from medix_r1.data.images import ImageProblem, open_image

    try:
        img = open_image({"bytes": data, "path": label}, max_pixels=max_pixels)
    except ImageProblem as exc:
        code = "too_large" if exc.code == "too_large" else "unreadable"
        raise UploadError(code, f"{label!r} cannot be used: {exc}") from exc
    return img.convert("RGB")
