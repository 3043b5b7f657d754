"""Open the images a record points at, safely: inside the data folder, decodable, not a pixel bomb.

A record's image is a path relative to the data file, a ``data:image/...;base64,`` URI, raw bytes,
or a ``{"bytes": ..., "path": ...}`` mapping (Hugging Face ``Image`` layout). Paths may not leave the
data file's folder (``../``, absolute paths and symlinks pointing out are refused), so a dataset
downloaded from elsewhere cannot make training read arbitrary files. DICOM files (``.dcm``) are
decoded through :mod:`medix_r1.data.dicom`.

Problems raise :class:`ImageProblem` whose ``code`` is one of ``outside``, ``missing``,
``undecodable``, ``too_large``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medix_r1.errors import MedixError

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = [
    "DEFAULT_MAX_IMAGE_PIXELS",
    "ImageProblem",
    "resolve_image_path",
    "load_image_bytes",
    "open_image",
    "image_size",
    "encode_data_uri",
    "pixel_sha256",
    "dhash",
]

#: Images with more pixels than this are refused as possible decompression bombs. The paper's
#: largest training resolution is 2048x2048 (4.2 MP); 50 MP leaves room for mammograms and scans.
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000


class ImageProblem(MedixError, ValueError):
    """An image reference that cannot be used; ``code`` says why in one word."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


def resolve_image_path(ref: str, base_dir: str | os.PathLike[str]) -> Path:
    """The file a relative image path names, refusing anything outside ``base_dir``.

    >>> resolve_image_path("images/a.png", "/data").as_posix()
    '/data/images/a.png'
    >>> resolve_image_path("../etc/passwd", "/data")
    Traceback (most recent call last):
    ...
    medix_r1.data.images.ImageProblem: '../etc/passwd' resolves outside the data folder /data
    """
    base = Path(base_dir).resolve()
    target = (base / ref).resolve()
    if target != base and base not in target.parents:
        raise ImageProblem("outside", f"{ref!r} resolves outside the data folder {base}")
    return target


def _decode_data_uri(ref: str) -> bytes:
    header, sep, payload = ref.partition(",")
    if not sep or ";base64" not in header:
        raise ImageProblem("undecodable", f"data URI {header[:40]!r}... is not base64-encoded")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageProblem("undecodable", f"data URI has invalid base64 ({exc})") from exc


def load_image_bytes(ref: Any, base_dir: str | os.PathLike[str]) -> tuple[bytes, str]:
    """The encoded bytes of an image reference and a label for messages (its path or ``<embedded>``)."""
    if isinstance(ref, dict):
        data = ref.get("bytes")
        if data:
            if isinstance(data, str) and data.startswith("data:"):
                return _decode_data_uri(data), "<data URI>"
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise ImageProblem(
                    "undecodable", f"embedded image 'bytes' must be binary, got {type(data).__name__}"
                )
            return bytes(data), str(ref.get("path") or "<embedded>")
        if isinstance(ref.get("path"), str) and ref["path"].strip():
            ref = ref["path"]
        else:
            raise ImageProblem("missing", "embedded image has neither 'bytes' nor a 'path'")
    if isinstance(ref, (bytes, bytearray)):
        return bytes(ref), "<embedded>"
    if not isinstance(ref, str):
        raise ImageProblem("undecodable", f"unsupported image reference of type {type(ref).__name__}")
    if ref.startswith("data:"):
        return _decode_data_uri(ref), "<data URI>"
    path = resolve_image_path(ref, base_dir)
    if not path.is_file():
        raise ImageProblem("missing", f"image file {ref!r} not found (looked for {path})")
    try:
        return path.read_bytes(), ref
    except OSError as exc:
        raise ImageProblem("missing", f"image file {ref!r} cannot be read ({exc.strerror})") from exc


def _is_dicom(data: bytes, label: str) -> bool:
    return data[128:132] == b"DICM" or label.lower().endswith((".dcm", ".dicom"))


def open_image(
    ref: Any,
    base_dir: str | os.PathLike[str] = ".",
    *,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> Image.Image:
    """Decode an image reference into a fully loaded PIL image (``RGB`` or ``L``).

    The size is checked from the header before any pixels are decoded, so a small file that
    expands to gigabytes is refused cheaply (``too_large``).
    """
    from PIL import Image, UnidentifiedImageError

    data, label = load_image_bytes(ref, base_dir)
    if _is_dicom(data, label):
        return _open_dicom(data, label, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > max_pixels:
                raise ImageProblem(
                    "too_large",
                    f"image {label!r} is {w}x{h} = {w * h} pixels, above the limit of {max_pixels}",
                )
            img.load()
    except ImageProblem:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageProblem("too_large", f"image {label!r} refused as a decompression bomb ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise ImageProblem("undecodable", f"image {label!r} is not a recognised image format") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageProblem("undecodable", f"image {label!r} cannot be decoded ({exc})") from exc
    if img.mode not in ("RGB", "L"):
        img = (
            img.convert("RGBA").convert("RGB")
            if "A" in img.getbands() or img.mode == "P"
            else img.convert("RGB")
        )
    return img


def _open_dicom(data: bytes, label: str, max_pixels: int) -> Image.Image:
    from medix_r1.data.dicom import DicomDecodeError, dicom_to_image, read_dicom

    try:
        ds = read_dicom(data)
        pixels = int(ds.get("Rows", 0) or 0) * int(ds.get("Columns", 0) or 0)
        if pixels > max_pixels:
            raise ImageProblem(
                "too_large", f"DICOM image {label!r} has {pixels} pixels per frame, above {max_pixels}"
            )
        return dicom_to_image(ds)
    except DicomDecodeError as exc:
        raise ImageProblem("undecodable", str(exc).replace("<bytes>", repr(label))) from exc


def image_size(
    ref: Any, base_dir: str | os.PathLike[str] = ".", *, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
) -> tuple[int, int]:
    """``(width, height)`` of a decodable image (decodes it fully, to catch truncated files)."""
    return open_image(ref, base_dir, max_pixels=max_pixels).size


def encode_data_uri(data: bytes, mime: str = "image/png") -> str:
    """Embed image bytes in JSON text.

    >>> encode_data_uri(b"abc")
    'data:image/png;base64,YWJj'
    """
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def pixel_sha256(img: Image.Image) -> str:
    """Hash of the decoded RGB pixels: equal for the same picture saved in two lossless formats."""
    rgb = img.convert("RGB")
    return hashlib.sha256(f"{rgb.size}".encode() + rgb.tobytes()).hexdigest()


def dhash(img: Image.Image, size: int = 8) -> int:
    """64-bit difference hash: survives resizing, re-encoding and mild intensity changes.

    Near-duplicates differ in few bits (compare with ``bin(a ^ b).count("1")``).
    """
    from PIL import Image

    grey = img.convert("L").resize((size + 1, size), Image.Resampling.BILINEAR)
    px = list(grey.getdata())
    bits = 0
    for row in range(size):
        for col in range(size):
            left, right = px[row * (size + 1) + col], px[row * (size + 1) + col + 1]
            bits = (bits << 1) | (1 if left > right else 0)
    return bits
