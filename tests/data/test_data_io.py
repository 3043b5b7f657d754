"""Readers and writers: every format round-trips, image paths stay inside the data folder."""

from __future__ import annotations

import pytest

from medix_r1.data.images import ImageProblem, open_image, resolve_image_path
from medix_r1.data.io import DataSourceError, detect_format, load_hub_dataset, load_records, write_records
from medix_r1.data.schema import MedixRecord, RecordError, make_solution


def _records(png: bytes) -> list[MedixRecord]:
    return [
        MedixRecord(
            "a", ["images/ok.png"], "unit", "<image>\nWhich modality?", "<CT_SCAN> CT", split="train"
        ),
        MedixRecord(
            "b", [png], "unit", "<image>\nIs it colour?", "<X_RAY> Colour", extra={"note": "embedded"}
        ),
        MedixRecord("c", [], "unit", "Text only question", "<OTHER> Answer"),
    ]


@pytest.mark.parametrize("name", ["t.jsonl", "t.json", "t.parquet", "hf"])
def test_round_trip(image_dir, png_bytes, name):
    path = write_records(_records(png_bytes()), image_dir / name)
    back = load_records(path)
    assert [r.id for r in back] == ["a", "b", "c"]
    assert back[0].image == ["images/ok.png"] and back[0].split == "train" and back[0].modality == "<CT_SCAN>"
    assert back[1].extra["note"] == "embedded"
    # The embedded image decodes to the same pixels whatever the container.
    assert open_image(back[1].image[0], image_dir).tobytes() == open_image(png_bytes(), image_dir).tobytes()
    if name != "hf":  # a save_to_disk folder is its own image root; this one holds no images
        assert open_image(back[0].image[0], image_dir).size == (8, 6)


def test_jsonl_output_is_deterministic(image_dir, png_bytes):
    one = write_records(_records(png_bytes()), image_dir / "1.jsonl").read_bytes()
    two = write_records(_records(png_bytes()), image_dir / "2.jsonl").read_bytes()
    assert one == two


def test_hub_loader_on_a_local_folder(image_dir, png_bytes):
    # The hub path (datasets.load_dataset) exercised on local files: a folder holding a parquet file.
    folder = image_dir / "hubrepo"
    folder.mkdir()
    write_records(_records(png_bytes()), folder / "train.parquet")
    ds = load_hub_dataset(str(folder), split="train")
    assert ds.num_rows == 3 and ds[0]["id"] == "a"


def test_strict_loader_names_row_and_field(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"id": "x", "image": [], "source": "s", "problem": "q", "solution": "<CT_SCAN> a"}\n'
        '{"id": "x", "image": [], "source": "s", "problem": "q", "solution": "<CT_SCAN> b"}\n'
    )
    with pytest.raises(
        RecordError, match=r"t.jsonl, line 2 \(id 'x'\), field 'id': duplicate id, first used at line 1"
    ):
        load_records(path)
    path.write_text('{"id": "y", "image": [], "source": "s", "problem": "q", "solution": "no tag"}\n')
    with pytest.raises(RecordError, match=r"line 1 \(id 'y'\), field 'solution': solution must start"):
        load_records(path)


def test_resolve_images_refuses_escape(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"id": "y", "image": ["../x.png"], "source": "s", "problem": "<image> q", "solution": "<CT_SCAN> a"}\n'
    )
    with pytest.raises(RecordError, match=r"field 'image\[0\]': '../x.png' resolves outside the data folder"):
        load_records(path, resolve_images=True)


def test_symlink_out_of_folder_is_refused(tmp_path, png_bytes):
    (tmp_path / "outside.png").write_bytes(png_bytes())
    inner = tmp_path / "data"
    inner.mkdir()
    (inner / "link.png").symlink_to(tmp_path / "outside.png")
    with pytest.raises(ImageProblem, match="resolves outside"):
        resolve_image_path("link.png", inner)


@pytest.mark.parametrize(
    "source,fmt",
    [
        ("a.jsonl", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("a.json", "json"),
        ("a.parquet", "parquet"),
        ("org/data", "hub"),
    ],
)
def test_detect_format(source, fmt):
    assert detect_format(source) == fmt


def test_unknown_source(tmp_path):
    with pytest.raises(DataSourceError, match="no such file, folder or hub dataset id"):
        detect_format(tmp_path / "missing" / "thing")
    with pytest.raises(DataSourceError, match="not a dataset saved with save_to_disk"):
        detect_format(tmp_path)


def test_make_solution_resolves_names():
    assert make_solution("MR", " Sagittal  T1 ") == "<MRI_SCAN> Sagittal T1"
