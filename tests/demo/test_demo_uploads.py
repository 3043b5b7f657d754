"""Uploads: what the demo accepts (PNG, JPEG, DICOM) and the message for everything else."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from medix_r1.demo.uploads import UploadError, read_upload


def _encoded(fmt: str, size=(40, 30), mode="RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, 128).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "mode"),
    [("PNG", "RGB"), ("PNG", "L"), ("PNG", "RGBA"), ("JPEG", "RGB"), ("JPEG", "L")],
)
def test_png_and_jpeg_decode_to_rgb(fmt, mode):
    img = read_upload(_encoded(fmt, mode=mode), name=f"x.{fmt.lower()}")
    assert (img.mode, img.size) == ("RGB", (40, 30))


def test_dicom_is_decoded_by_the_data_layer(ct_dicom):
    from medix_r1.data.dicom import dicom_to_image

    img = read_upload(ct_dicom)
    assert (img.mode, img.size) == ("RGB", (128, 128))
    # Same pixels as the data layer's windowed decoding, in RGB.
    assert img.tobytes() == dicom_to_image(ct_dicom).convert("RGB").tobytes()


def test_dicom_is_recognised_without_its_extension(ct_dicom):
    # CT_small.dcm has the DICM preamble; the name says nothing.
    assert read_upload(ct_dicom.read_bytes(), name="IM0001").size == (128, 128)


def test_dicom_without_preamble_or_extension(ct_dicom):
    # Old scanners write files without the 128-byte preamble and "DICM" marker.
    data = ct_dicom.read_bytes()[132:]
    assert read_upload(data, name="IM0002").size == (128, 128)


# (bytes factory, name, keyword limits, expected code, words the message must contain). Why each row:
REFUSED = [
    # a text file renamed or not: not an image at all
    (
        lambda: b"patient notes",
        "notes.txt",
        {},
        "not_an_image",
        ["'notes.txt' is not an image", "PNG, JPEG or DICOM"],
    ),
    # a real image in a format the demo does not take
    (lambda: _encoded("GIF"), "anim.gif", {}, "unsupported", ["GIF image", "PNG, JPEG or DICOM"]),
    (lambda: _encoded("BMP"), "scan.bmp", {}, "unsupported", ["BMP image"]),
    # nothing uploaded
    (lambda: b"", "empty.png", {}, "empty", ["'empty.png' is empty"]),
    # over the byte limit (checked before decoding)
    (lambda: _encoded("PNG"), "big.png", {"max_bytes": 50}, "too_large", ["'big.png' is 0.0 MB", "limit"]),
    # over the pixel limit: decompression-bomb guard from the header
    (
        lambda: _encoded("PNG", size=(100, 100)),
        "wide.png",
        {"max_pixels": 5000},
        "too_large",
        ["10000 pixels"],
    ),
    # a PNG cut in the middle of its pixel data
    (lambda: _truncated_png(), "cut.png", {}, "unreadable", ["'cut.png' cannot be used"]),
    # a .dcm name on bytes that are not DICOM
    (
        lambda: b"\x00" * 300,
        "scan.dcm",
        {},
        "unreadable",
        ["The DICOM file 'scan.dcm' cannot be shown", "not a DICOM file"],
    ),
]


def _truncated_png() -> bytes:
    import numpy as np

    noise = np.random.default_rng(0).integers(0, 255, (200, 200), dtype=np.uint8)  # incompressible
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    return buffer.getvalue()[: len(buffer.getvalue()) // 2]


@pytest.mark.parametrize(("make", "name", "limits", "code", "words"), REFUSED, ids=[r[1] for r in REFUSED])
def test_refused_uploads_say_why(make, name, limits, code, words):
    with pytest.raises(UploadError) as info:
        read_upload(make(), name=name, **limits)
    assert info.value.code == code
    for word in words:
        assert word in str(info.value)


def test_dicom_over_the_pixel_limit(ct_dicom):
    with pytest.raises(UploadError, match=r"has 16,384 pixels per frame; the limit is 1,000") as info:
        read_upload(ct_dicom, max_pixels=1000)
    assert info.value.code == "too_large"


def test_dicom_needing_a_missing_decoder_plugin():
    from pydicom.data import get_testdata_file

    path = get_testdata_file("JPEG-LL.dcm")  # JPEG Lossless: needs pylibjpeg or gdcm
    try:
        import pylibjpeg  # noqa: F401

        pytest.skip("pylibjpeg is installed, so this file decodes")
    except ImportError:
        pass
    with pytest.raises(
        UploadError, match="The DICOM file 'JPEG-LL.dcm' cannot be shown: .*JPEG Lossless"
    ) as info:
        read_upload(path)
    assert info.value.code == "unreadable"


def test_a_large_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.dcm"
    with open(path, "wb") as f:
        f.truncate(3 * 1024 * 1024)  # sparse: the size is known without writing it
    with pytest.raises(UploadError, match=r"'huge.dcm' is 3.0 MB; the limit is 1.0 MB") as info:
        read_upload(path, max_bytes=1024 * 1024)
    assert info.value.code == "too_large"


def test_missing_file(tmp_path):
    with pytest.raises(UploadError, match="cannot be found") as info:
        read_upload(tmp_path / "gone.png")
    assert info.value.code == "missing"
