"""`medix-r1 data validate`: every malformed case is reported with its row, field and code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medix_r1.cli.data import app
from medix_r1.data.validate import validate_file

GOOD = {
    "id": "r1",
    "image": ["images/ok.png"],
    "source": "unit",
    "problem": "<image>\nWhich modality?",
    "solution": "<CT_SCAN> CT",
}


def row(**changes):
    out = dict(GOOD)
    for key, value in changes.items():
        if value is ...:
            out.pop(key)
        else:
            out[key] = value
    return json.dumps(out)


# (case name, JSONL lines, expected [(row, field, code)]). Each line is one malformed record unless noted.
CASES = [
    ("missing field", [row(source=...)], [("line 1 (id 'r1')", "source", "missing_field")]),
    ("null field", [row(problem=None)], [("line 1 (id 'r1')", "problem", "missing_field")]),
    ("empty field", [row(source="  ")], [("line 1 (id 'r1')", "source", "empty_field")]),
    ("missing id", [row(id=...)], [("line 1", "id", "missing_field")]),
    ("empty solution", [row(solution="")], [("line 1 (id 'r1')", "solution", "empty_field")]),
    ("solution without tag", [row(solution="CT scan")], [("line 1 (id 'r1')", "solution", "no_tag")]),
    ("unknown tag", [row(solution="<CAT_SCAN> CT")], [("line 1 (id 'r1')", "solution", "unknown_tag")]),
    ("lower-case tag", [row(solution="<ct_scan> CT")], [("line 1 (id 'r1')", "solution", "unknown_tag")]),
    ("tag without answer", [row(solution="<CT_SCAN>  ")], [("line 1 (id 'r1')", "solution", "empty_answer")]),
    (
        "no placeholder",
        [row(problem="Which modality?")],
        [("line 1 (id 'r1')", "problem", "placeholder_mismatch")],
    ),
    (
        "two placeholders",
        [row(problem="<image><image> q")],
        [("line 1 (id 'r1')", "problem", "placeholder_mismatch")],
    ),
    ("image not a list", [row(image=5)], [("line 1 (id 'r1')", "image", "wrong_type")]),
    ("problem not text", [row(problem=["<image>"])], [("line 1 (id 'r1')", "problem", "wrong_type")]),
    (
        "modality disagrees",
        [row(modality="<MRI_SCAN>")],
        [("line 1 (id 'r1')", "modality", "modality_mismatch")],
    ),
    ("unknown split", [row(split="dev")], [("line 1 (id 'r1')", "split", "unknown_split")]),
    ("image missing", [row(image=["images/nope.png"])], [("line 1 (id 'r1')", "image[0]", "image_missing")]),
    (
        "image escapes folder",
        [row(image=["../outside.png"])],
        [("line 1 (id 'r1')", "image[0]", "image_outside")],
    ),
    (
        "absolute image path",
        [row(image=["/etc/hostname"])],
        [("line 1 (id 'r1')", "image[0]", "image_outside")],
    ),
    (
        "truncated image",
        [row(image=["images/truncated.png"])],
        [("line 1 (id 'r1')", "image[0]", "image_undecodable")],
    ),
    (
        "text as image",
        [row(image=["images/text.png"])],
        [("line 1 (id 'r1')", "image[0]", "image_undecodable")],
    ),
    (
        "bad data URI",
        [row(image=["data:image/png;base64,@@@"])],
        [("line 1 (id 'r1')", "image[0]", "image_undecodable")],
    ),
    # PIL refuses 400 MP outright; 64 MP passes PIL's own guard but not our 50 MP limit.
    (
        "decompression bomb",
        [row(image=["images/bomb.png"])],
        [("line 1 (id 'r1')", "image[0]", "image_too_large")],
    ),
    (
        "over pixel limit",
        [row(image=["images/big.png"])],
        [("line 1 (id 'r1')", "image[0]", "image_too_large")],
    ),
    ("duplicate id", [row(), row()], [("line 2 (id 'r1')", "id", "duplicate_id")]),
    (
        "invalid JSON",
        [row(), '{"id": "r2", "image": [', row(id="r3")],
        [("line 2", "<line>", "invalid_json")],
    ),
    ("not an object", ['["r1"]'], [("line 1", "<row>", "not_an_object")]),
    ("empty file", [], [("file", "<file>", "empty_file")]),
    (
        "several problems in one record",
        [row(id="r9", solution="nothing", problem="q", image=["images/nope.png"])],
        [
            ("line 1 (id 'r9')", "solution", "no_tag"),
            ("line 1 (id 'r9')", "problem", "placeholder_mismatch"),
            ("line 1 (id 'r9')", "image[0]", "image_missing"),
        ],
    ),
    (
        "embedded bytes not binary",
        [row(image=[{"bytes": "abc"}])],
        [("line 1 (id 'r1')", "image[0]", "image_undecodable")],
    ),
    (
        "embedded without bytes or path",
        [row(image=[{"x": 1}])],
        [("line 1 (id 'r1')", "image[0]", "image_missing")],
    ),
    ("id of wrong type", [row(id=True)], [("line 1", "id", "wrong_type")]),
]


@pytest.fixture
def write_assets(png_bytes, bomb_png):
    def write(folder: Path) -> None:
        _write_assets(folder, png_bytes, bomb_png)

    return write


def _write_assets(folder: Path, png_bytes, bomb_png) -> None:
    images = folder / "images"
    images.mkdir(exist_ok=True)
    (images / "ok.png").write_bytes(png_bytes())
    (images / "truncated.png").write_bytes(png_bytes((64, 64))[:40])
    (images / "text.png").write_text("not an image")
    (images / "bomb.png").write_bytes(bomb_png(20000, 20000))
    (images / "big.png").write_bytes(bomb_png(8000, 8000))
    (folder.parent / "outside.png").write_bytes(png_bytes())


@pytest.mark.parametrize("name,lines,expected", CASES, ids=[c[0] for c in CASES])
def test_each_problem_is_named(tmp_path, write_assets, name, lines, expected):
    data = tmp_path / "set"
    data.mkdir()
    write_assets(data)
    path = data / "train.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    report = validate_file(path)
    assert [(p.row, p.field, p.code) for p in report.problems] == expected
    assert not report.ok


def test_invalid_utf8_is_reported_by_line(tmp_path, write_assets):
    write_assets(tmp_path)
    path = tmp_path / "t.jsonl"
    path.write_bytes(row().encode() + b"\n" + b'{"id": "r2", "source": "caf\xe9"}\n')
    report = validate_file(path)
    assert [(p.row, p.field, p.code) for p in report.problems] == [("line 2", "<line>", "invalid_utf8")]


def test_valid_file_passes_with_blank_lines_and_bom(tmp_path, write_assets):
    write_assets(tmp_path)
    path = tmp_path / "t.jsonl"
    path.write_text("\ufeff" + row() + "\n\n" + row(id="r2", image=[], problem="text only") + "\n")
    report = validate_file(path)
    assert report.ok and report.records == 2 and report.images_checked == 1


@pytest.mark.parametrize(
    "name,lines,expected", CASES[:6] + CASES[23:25], ids=[c[0] for c in CASES[:6] + CASES[23:25]]
)
def test_cli_exit_code_and_message(tmp_path, write_assets, name, lines, expected):
    write_assets(tmp_path)
    path = tmp_path / "t.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    for row_name, field, code in expected:
        assert f"{row_name}: {field}: " in result.output and f"[{code}]" in result.output


def test_cli_valid_file_exits_zero(tmp_path, write_assets):
    write_assets(tmp_path)
    path = tmp_path / "t.jsonl"
    path.write_text(row() + "\n")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "OK:" in result.output


@pytest.mark.parametrize(
    "content,suffix",
    [(None, ".jsonl"), (b"PAR1garbage", ".parquet"), (b"x", ".csv")],
    ids=["missing file", "broken parquet", "unknown format"],
)
def test_cli_unopenable_source_exits_two(tmp_path, content, suffix):
    path = tmp_path / f"data{suffix}"
    if content is not None:
        path.write_bytes(content)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and str(path) in result.output


def test_cli_json_output(tmp_path, write_assets):
    write_assets(tmp_path)
    path = tmp_path / "t.jsonl"
    path.write_text(row(solution="plain") + "\n")
    result = CliRunner().invoke(app, ["validate", str(path), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output.splitlines()[0]) == {
        "file": str(path),
        "row": "line 1 (id 'r1')",
        "field": "solution",
        "code": "no_tag",
        "message": "solution must start with a modality tag such as '<X_RAY>', got 'plain'",
    }


def test_parquet_rows_are_validated_by_row_number(tmp_path, write_assets):
    import pyarrow as pa
    import pyarrow.parquet as pq

    write_assets(tmp_path)
    rows = [json.loads(row()), json.loads(row(id="r2", solution="<XRAY> x"))]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "t.parquet")
    report = validate_file(tmp_path / "t.parquet")
    assert [(p.row, p.field, p.code) for p in report.problems] == [
        ("row 2 (id 'r2')", "solution", "unknown_tag")
    ]
    assert "did you mean '<X_RAY>'" in report.problems[0].message
