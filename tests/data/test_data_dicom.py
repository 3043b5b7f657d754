"""DICOM decoding of every file the sample set uses, and the traps: MONOCHROME1, palette, YBR, plugins."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from medix_r1.data.dicom import DicomDecodeError, dicom_info, dicom_to_array, dicom_to_image, read_dicom

# (file, PIL mode, size, modality tag, body part) straight from the headers.
SHIPPED = [
    ("CT_small.dcm", "L", (128, 128), "<CT_SCAN>", ""),
    ("MR_small.dcm", "L", (64, 64), "<MRI_SCAN>", ""),
    ("examples_overlay.dcm", "L", (484, 300), "<MRI_SCAN>", "ABDOMEN"),
    ("examples_palette.dcm", "RGB", (800, 350), "<ULTRASOUND>", ""),
    ("examples_rgb_color.dcm", "RGB", (320, 240), "<ULTRASOUND>", ""),
    ("examples_ybr_color.dcm", "RGB", (320, 240), "<ULTRASOUND>", ""),
    ("RG1_UNCI.dcm", "L", (1841, 1955), "<X_RAY>", "CHEST"),
    ("RG3_UNCI.dcm", "L", (1760, 1760), "<X_RAY>", "EXTREMITY"),
    ("693_UNCI.dcm", "L", (512, 512), "<CT_SCAN>", ""),
    ("MR2_UNCI.dcm", "L", (1024, 1024), "<MRI_SCAN>", ""),
    ("MR-SIEMENS-DICOM-WithOverlays.dcm", "L", (484, 484), "<MRI_SCAN>", "ABDOMEN"),
    ("emri_small.dcm", "L", (64, 64), "<MRI_SCAN>", "HEAD"),
    ("US1_UNCI.dcm", "RGB", (640, 480), "<ULTRASOUND>", ""),
    ("OBXXXX1A.dcm", "RGB", (800, 600), "<ULTRASOUND>", ""),
    ("color-pl.dcm", "RGB", (256, 120), "<ULTRASOUND>", ""),
    ("JPEG2000_UNC.dcm", "L", (256, 1024), "<SPECT>", "WHOLE BODY"),
]


@pytest.mark.parametrize("name,mode,size,tag,body_part", SHIPPED, ids=[s[0] for s in SHIPPED])
def test_each_shipped_file_decodes(name, mode, size, tag, body_part):
    path = get_testdata_file(name)
    img = dicom_to_image(path)
    assert (img.mode, img.size) == (mode, size)
    info = dicom_info(path)
    assert (info.modality_tag, info.body_part) == (tag, body_part)
    lo, hi = (
        img.getextrema()
        if mode == "L"
        else (min(e[0] for e in img.getextrema()), max(e[1] for e in img.getextrema()))
    )
    assert hi - lo > 100  # real contrast, not a flat or clipped picture


def test_monochrome1_is_inverted():
    # RG1 is MONOCHROME1 (0 = white); decoding it as if it were MONOCHROME2 must give the negative.
    ds = read_dicom(get_testdata_file("RG1_UNCI.dcm"))
    as_stored = dicom_to_array(ds)
    ds.PhotometricInterpretation = "MONOCHROME2"
    as_mono2 = dicom_to_array(ds)
    assert np.array_equal(as_stored, 255 - as_mono2)
    # The collimated border (unexposed, high raw values here) is dark; the mediastinum is bright.
    assert as_stored[:20, :20].mean() < as_stored[960:1000, 900:940].mean()


def test_palette_colour_gives_rgb_from_the_lut():
    ds = read_dicom(get_testdata_file("OBXXXX1A.dcm"))
    arr = dicom_to_array(ds)
    assert arr.shape == (600, 800, 3) and arr.dtype == np.uint8
    # Palette entries are not grey: some pixels have differing channels.
    assert (arr[..., 0] != arr[..., 2]).any()


def test_ybr_is_converted_to_rgb():
    arr = dicom_to_array(get_testdata_file("examples_ybr_color.dcm"), frame=0)
    assert arr.shape == (240, 320, 3)
    # A mostly grey ultrasound: after YBR->RGB its channels agree closely (unconverted YBR would not).
    assert np.abs(arr[..., 0].astype(int) - arr[..., 1].astype(int)).mean() < 8


def test_ct_window_is_applied():
    # 693_UNCI has WindowCenter 40 / WindowWidth 100 after a -1024 rescale: values outside clip.
    arr = dicom_to_array(get_testdata_file("693_UNCI.dcm"))
    assert set(np.unique(arr[:10, :10]).tolist()) == {0}
    assert arr.max() == 255


def test_frame_choice_and_bounds():
    path = get_testdata_file("emri_small.dcm")
    assert not np.array_equal(dicom_to_array(path, frame=0), dicom_to_array(path, frame=9))
    with pytest.raises(DicomDecodeError, match="frame 10 requested but the file has 10 frame"):
        dicom_to_array(path, frame=10)


def test_bytes_input_matches_path_input():
    path = get_testdata_file("CT_small.dcm")
    with open(path, "rb") as fh:
        data = fh.read()
    assert dicom_to_image(data).tobytes() == dicom_to_image(path).tobytes()


def test_jpeg_lossless_needs_a_plugin():
    with pytest.raises(
        DicomDecodeError, match="(?s)JPEG-LL.dcm: pixel data in JPEG Lossless.*pip install pylibjpeg"
    ):
        dicom_to_image(get_testdata_file("JPEG-LL.dcm"))


@pytest.mark.parametrize(
    "data,message",
    [
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 200, "<bytes>: not a DICOM file"),
        (b"", "<bytes>: not a DICOM file"),
    ],
    ids=["png bytes", "empty"],
)
def test_not_dicom(data, message):
    with pytest.raises(DicomDecodeError, match=message):
        dicom_to_image(data)


def test_missing_file_and_no_pixels(tmp_path):
    with pytest.raises(DicomDecodeError, match="no such file"):
        dicom_to_image(tmp_path / "nope.dcm")
    with pytest.raises(DicomDecodeError, match="has no pixel data"):
        dicom_to_image(get_testdata_file("rtplan.dcm"))
