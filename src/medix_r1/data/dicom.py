"""Decode DICOM files into 8-bit images a VLM can see, and read the header facts that label them.

Used by the DICOM-folder converter, the bundled sample set and the web demo (which decodes uploaded
files). The traps this module handles (reference offline-assets.md, "Medical images"):

- CT and MR store 12-16 bit values: apply the modality LUT (rescale slope/intercept), then the VOI
  LUT or the first window centre/width, and only then map to 0-255. Without a window the 0.5-99.5
  percentiles are used so one hot pixel does not flatten the picture.
- ``MONOCHROME1`` means "0 is white": the windowed values are inverted.
- ``PALETTE COLOR`` pixels are indices into a colour table (:func:`pydicom.pixels.apply_color_lut`).
- ``YBR_*`` colour is converted to RGB (pydicom does it while decoding).
- Compressed transfer syntaxes that need plugins (JPEG-LS, JPEG lossless, JPEG 2000 without
  pylibjpeg/openjpeg) raise :class:`DicomDecodeError` naming the syntax and the plugin to install.

pydicom is imported inside the functions: importing this module is cheap.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medix_r1.errors import MedixError
from medix_r1.modality import modality_from_dicom

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL import Image

__all__ = [
    "DicomDecodeError",
    "DicomInfo",
    "read_dicom",
    "dicom_info",
    "dicom_to_array",
    "dicom_to_image",
    "imaging_plane",
]


class DicomDecodeError(MedixError, ValueError):
    """A file that is not DICOM, has no pixel data, or needs a decoder plugin that is not installed."""


@dataclass(frozen=True)
class DicomInfo:
    """Header facts usable as questions and reference answers (all free text, ``""`` when absent)."""

    modality_code: str
    modality_tag: str
    body_part: str
    study_description: str
    series_description: str
    view_position: str
    plane: str
    photometric: str
    rows: int
    columns: int
    frames: int

    @property
    def is_colour(self) -> bool:
        return self.photometric not in ("MONOCHROME1", "MONOCHROME2", "")


def _name(source: Any) -> str:
    if isinstance(source, (bytes, bytearray)):
        return "<bytes>"
    return os.fspath(source)


def read_dicom(source: str | os.PathLike[str] | bytes | bytearray, *, pixels: bool = True) -> Any:
    """Read a DICOM file (path or bytes) into a ``pydicom.Dataset``.

    Raises :class:`DicomDecodeError` naming the source when the file is missing, is not DICOM, or
    (with ``pixels=True``) carries no pixel data.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    name = _name(source)
    fileobj: Any = io.BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray)) else source
    if not isinstance(source, (bytes, bytearray)) and not Path(source).is_file():
        raise DicomDecodeError(f"{name}: no such file")
    try:
        # force=True would accept any bytes; we want "not DICOM" to be an error. Files without the
        # 128-byte preamble are retried with force, since old scanners write those.
        try:
            ds = pydicom.dcmread(fileobj)
        except InvalidDicomError:
            if isinstance(fileobj, io.BytesIO):
                fileobj.seek(0)
            ds = pydicom.dcmread(fileobj, force=True)
            if "SOPClassUID" not in ds and "PixelData" not in ds and "Modality" not in ds:
                raise DicomDecodeError(
                    f"{name}: not a DICOM file (no 'DICM' preamble and no DICOM elements found)"
                ) from None
    except DicomDecodeError:
        raise
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise DicomDecodeError(f"{name}: cannot be read as DICOM ({type(exc).__name__}: {exc})") from exc
    if pixels and "PixelData" not in ds:
        raise DicomDecodeError(
            f"{name}: DICOM file has no pixel data (SOP class {ds.get('SOPClassUID', '?')})"
        )
    return ds


def imaging_plane(orientation: Any) -> str:
    """Name the plane of an ``ImageOrientationPatient`` (row and column direction cosines).

    The slice normal is the cross product of the two; its dominant patient axis names the plane.
    A normal less than ~25 degrees from that axis is reported as ``"oblique <plane>"``.

    >>> imaging_plane([1, 0, 0, 0, 1, 0])
    'axial'
    >>> imaging_plane([0, 1, 0, 0, 0, -1])
    'sagittal'
    >>> imaging_plane([0.569486, 0.822001, 0, 0, 0, -1])
    'oblique sagittal'
    >>> imaging_plane(None)
    ''
    """
    try:
        r = [float(v) for v in orientation][:3]
        c = [float(v) for v in orientation][3:6]
    except (TypeError, ValueError):
        return ""
    if len(r) != 3 or len(c) != 3:
        return ""
    n = (r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0])
    mags = [abs(v) for v in n]
    axis = mags.index(max(mags))
    plane = ("sagittal", "coronal", "axial")[axis]
    norm = sum(v * v for v in n) ** 0.5 or 1.0
    return plane if mags[axis] / norm >= 0.9 else f"oblique {plane}"


def _text(ds: Any, keyword: str) -> str:
    value = ds.get(keyword, "")
    return " ".join(str(value).replace("^", " ").split())


def dicom_info(source: Any) -> DicomInfo:
    """Header facts of a dataset, path or bytes.

    The modality tag goes through the taxonomy (:func:`medix_r1.modality.modality_from_dicom`), so
    ``CR``/``DX`` give ``<X_RAY>``, ``NM`` gives ``<SPECT>`` and an unknown code ``<OTHER>``.
    """
    ds = source if _is_dataset(source) else read_dicom(source, pixels=False)
    code = _text(ds, "Modality").upper()
    return DicomInfo(
        modality_code=code,
        modality_tag=modality_from_dicom(code).tag,
        body_part=_text(ds, "BodyPartExamined"),
        study_description=_text(ds, "StudyDescription"),
        series_description=_text(ds, "SeriesDescription"),
        view_position=_text(ds, "ViewPosition"),
        plane=imaging_plane(ds.get("ImageOrientationPatient")),
        photometric=_text(ds, "PhotometricInterpretation").upper(),
        rows=int(ds.get("Rows", 0) or 0),
        columns=int(ds.get("Columns", 0) or 0),
        frames=int(ds.get("NumberOfFrames", 1) or 1),
    )


def _is_dataset(source: Any) -> bool:
    if isinstance(source, (str, bytes, bytearray, os.PathLike)):
        return False
    from pydicom.dataset import Dataset

    return isinstance(source, Dataset)


def _first(value: Any) -> float:
    # Window centre/width may be multi-valued (several presets); the first is the default one.
    if hasattr(value, "__len__") and not isinstance(value, str):
        value = value[0]
    return float(value)


def _to_uint8(values: np.ndarray, low: float, high: float) -> np.ndarray:
    import numpy as np

    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = (values.astype(np.float64) - low) / (high - low)
    return np.round(np.clip(scaled, 0.0, 1.0) * 255.0).astype(np.uint8)


def _grey_to_uint8(ds: Any, arr: np.ndarray) -> np.ndarray:
    import numpy as np
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    values = apply_modality_lut(arr, ds).astype(np.float64)
    if "VOILUTSequence" in ds:
        lut_out = apply_voi_lut(arr if "ModalityLUTSequence" in ds else values, ds, index=0, prefer_lut=True)
        lut = np.asarray(ds.VOILUTSequence[0].LUTData, dtype=np.float64)
        out = _to_uint8(lut_out, float(lut.min()), float(lut.max()))
    elif "WindowCenter" in ds and "WindowWidth" in ds and _first(ds.WindowWidth) >= 1:
        # Linear VOI function of PS3.3 C.11.2.1.2.1, mapped straight to 0-255.
        centre, width = _first(ds.WindowCenter), _first(ds.WindowWidth)
        low = centre - 0.5 - (width - 1) / 2
        out = _to_uint8(values, low, low + width - 1)
    else:
        low, high = np.percentile(values, [0.5, 99.5])
        out = _to_uint8(values, float(low), float(high))
    if _text(ds, "PhotometricInterpretation").upper() == "MONOCHROME1":
        out = 255 - out
    return out


def _palette_to_uint8(ds: Any, arr: np.ndarray) -> np.ndarray:
    import numpy as np
    from pydicom.pixels import apply_color_lut

    rgb = apply_color_lut(arr, ds)
    # The LUT descriptor's third value is the entry size in bits (8 or 16).
    bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
    top = float(2**bits - 1)
    if bits == 16 and rgb.max() <= 255:
        top = 255.0  # some writers declare 16-bit entries but store 8-bit values
    return _to_uint8(rgb, 0.0, top).astype(np.uint8)


def dicom_to_array(source: Any, *, frame: int = 0) -> np.ndarray:
    """One frame of a DICOM image as ``uint8``: ``(H, W)`` for greyscale, ``(H, W, 3)`` RGB for colour.

    ``source`` is a path, bytes or an already read ``pydicom.Dataset``. Raises
    :class:`DicomDecodeError` (naming the file) when the pixels cannot be decoded.
    """
    import numpy as np
    from pydicom.pixels import pixel_array

    ds = source if _is_dataset(source) else read_dicom(source)
    name = str(getattr(ds, "filename", None) or (_name(source) if not _is_dataset(source) else "<dataset>"))
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if not 0 <= frame < frames:
        raise DicomDecodeError(f"{name}: frame {frame} requested but the file has {frames} frame(s)")
    try:
        arr = pixel_array(ds, index=frame if frames > 1 else None)
    except (NotImplementedError, RuntimeError, ValueError, AttributeError, KeyError, TypeError) as exc:
        syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
        label = f"{syntax.name} ({syntax})" if syntax is not None else "unknown transfer syntax"
        raise DicomDecodeError(
            f"{name}: pixel data in {label} cannot be decoded here ({exc}). "
            "Compressed DICOM may need a decoder plugin: pip install pylibjpeg pylibjpeg-libjpeg "
            "pylibjpeg-openjpeg, or convert the file to an uncompressed transfer syntax."
        ) from exc
    photometric = _text(ds, "PhotometricInterpretation").upper()
    if photometric == "PALETTE COLOR":
        return _palette_to_uint8(ds, arr)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        # pydicom converts YBR_* to RGB while decoding (as_rgb=True); 16-bit colour is rescaled.
        rgb = arr[..., :3]
        if rgb.dtype != np.uint8:
            rgb = _to_uint8(rgb, 0.0, float(2 ** int(ds.get("BitsStored", 16)) - 1))
        return np.ascontiguousarray(rgb)
    if arr.ndim != 2:
        raise DicomDecodeError(f"{name}: unexpected pixel array shape {arr.shape} for one frame")
    return _grey_to_uint8(ds, arr)


def dicom_to_image(source: Any, *, frame: int | None = None) -> Image.Image:
    """Decode a DICOM file (path, bytes or a read ``pydicom.Dataset``) into a PIL image: mode ``L`` for greyscale, ``RGB`` for colour.

    Multi-frame files give their middle frame unless ``frame`` is given. Errors are
    :class:`DicomDecodeError` with the file named, e.g. for a PNG passed by mistake::

        >>> dicom_to_image(b"\\x89PNG\\r\\n")
        Traceback (most recent call last):
        ...
        medix_r1.data.dicom.DicomDecodeError: <bytes>: not a DICOM file (no 'DICM' preamble and no DICOM elements found)
    """
    from PIL import Image

    ds = source if _is_dataset(source) else read_dicom(source)
    if frame is None:
        frame = int(ds.get("NumberOfFrames", 1) or 1) // 2
    arr = dicom_to_array(ds, frame=frame)
    return Image.fromarray(arr)
