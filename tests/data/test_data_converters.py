"""Converters from VQA layouts and DICOM folders, on hand-made rows."""

from __future__ import annotations

import shutil

import pytest
from pydicom.data import get_testdata_file

from medix_r1.data.converters import convert_rows, from_dicom_folder
from medix_r1.data.dicom import DicomDecodeError
from medix_r1.data.schema import RecordError


def test_vqa_rad_with_default_modality(png_bytes):
    rows = [
        {
            "image": {"bytes": png_bytes(), "path": "synpic1.jpg"},
            "question": "is there  a fracture?",
            "answer": "no",
        }
    ]
    r = convert_rows(rows, "vqa-rad", default_modality="CT")[0]
    assert (r.solution, r.problem, r.source) == ("<CT_SCAN> no", "<image>\nis there a fracture?", "vqa-rad")
    assert r.image[0]["path"] == "synpic1.jpg" and r.id.startswith("vqa-rad-") and len(r.id) == 20


def test_vqa_rad_without_modality_is_an_error():
    with pytest.raises(RecordError, match=r"vqa-rad, row 1, field 'modality': .*default_modality"):
        convert_rows([{"image_name": "a.jpg", "question": "q?", "answer": "yes"}], "vqa-rad")


def test_slake_skips_other_languages_and_maps_modality():
    rows = [
        {
            "img_name": "xmlab1/source.jpg",
            "question": "Is this MRI?",
            "answer": "Yes",
            "q_lang": "en",
            "modality": "MRI",
            "qid": 1,
        },
        {
            "img_name": "xmlab1/source.jpg",
            "question": "这是什么?",
            "answer": "肺",
            "q_lang": "zh",
            "modality": "MRI",
            "qid": 2,
        },
        {
            "img_name": "xmlab2/source.jpg",
            "question": "Which organ?",
            "answer": "Lung",
            "q_lang": "en",
            "modality": "X-Ray",
            "qid": 3,
        },
    ]
    out = convert_rows(rows, "slake", image_root="imgs")
    assert [(r.id, r.tag, r.image[0]) for r in out] == [
        ("slake-1", "<MRI_SCAN>", "imgs/xmlab1/source.jpg"),
        ("slake-3", "<X_RAY>", "imgs/xmlab2/source.jpg"),
    ]


def test_path_vqa_is_microscopy_and_duplicate_rows_get_suffixes():
    rows = [{"image": "p/1.png", "question": "what is present?", "answer": "granuloma"}] * 2
    out = convert_rows(rows, "path-vqa")
    assert [r.tag for r in out] == ["<MICROSCOPY>"] * 2
    assert out[1].id == out[0].id + "-2"


def test_pmc_vqa_appends_choices():
    row = {
        "Figure_path": "PMC1.jpg",
        "Question": "What modality?",
        "Answer": "CT scan",
        "modality": "CT",
        "Choice A": "A:CT scan",
        "Choice B": " B: MRI",
        "Choice C": "C:PET",
        "Choice D": "D:Ultrasound",
    }
    r = convert_rows([row], "pmc-vqa")[0]
    assert r.problem == "<image>\nWhat modality?\n\nChoices:\nA. CT scan\nB. MRI\nC. PET\nD. Ultrasound"
    assert convert_rows([row], "pmc-vqa", with_choices=False)[0].problem == "<image>\nWhat modality?"


@pytest.mark.parametrize(
    "layout,row,message",
    [
        (
            "slake",
            {"img_name": "a.jpg", "question": "", "answer": "x", "modality": "CT"},
            "row 1, field 'question': missing or empty",
        ),
        (
            "slake",
            {"question": "q", "answer": "x", "modality": "CT"},
            "row 1, field 'img_name/image': no image",
        ),
        (
            "slake",
            {"img_name": "a", "question": "q", "answer": "x", "modality": "Sonar"},
            "field 'modality': unknown modality 'Sonar'",
        ),
    ],
)
def test_bad_rows(layout, row, message):
    with pytest.raises(RecordError, match=message):
        convert_rows([row], layout)


def test_unknown_layout():
    with pytest.raises(ValueError, match="unknown layout 'slak'; did you mean 'slake'"):
        convert_rows([], "slak")


def test_dicom_folder(tmp_path):
    src = tmp_path / "dicom" / "series1"
    src.mkdir(parents=True)
    for name in ("CT_small.dcm", "JPEG2000_UNC.dcm", "JPEG-LL.dcm"):
        shutil.copy(get_testdata_file(name), src / name)
    with pytest.raises(DicomDecodeError, match="JPEG-LL.dcm"):
        from_dicom_folder(tmp_path / "dicom", tmp_path / "out")
    result = from_dicom_folder(tmp_path / "dicom", tmp_path / "out", on_error="skip")
    assert [s[0] for s in result.skipped] == ["series1/JPEG-LL.dcm"]
    assert [(r.id, r.solution) for r in result.records] == [
        ("series1_CT_small.dcm-modality", "<CT_SCAN> Computed tomography"),
        ("series1_CT_small.dcm-study", "<CT_SCAN> e+1"),
        ("series1_CT_small.dcm-plane", "<CT_SCAN> Axial"),
        ("series1_JPEG2000_UNC.dcm-modality", "<SPECT> Single-photon emission CT / nuclear medicine"),
        ("series1_JPEG2000_UNC.dcm-region", "<SPECT> Whole body"),
        ("series1_JPEG2000_UNC.dcm-study", "<SPECT> Whole Body Bone"),
    ]
    assert (tmp_path / "out" / "images" / "series1_CT_small.dcm.png").is_file()
