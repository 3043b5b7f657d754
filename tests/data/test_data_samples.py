"""The bundled sample set: counts, coverage, determinism, held-out views, provenance."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from medix_r1.data.contamination import find_contamination
from medix_r1.data.io import load_records
from medix_r1.data.samples import SAMPLE_SOURCES, build_samples, ensure_samples
from medix_r1.data.validate import validate_file
from medix_r1.modality import MODALITY_TAGS


def _tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def test_counts_and_coverage(samples):
    train, test = load_records(samples.train_path), load_records(samples.test_path)
    assert (samples.n_train, samples.n_test, samples.n_images) == (len(train), len(test), 168)
    assert (len(train), len(test)) == (366, 92)
    tags = {r.tag for r in train}
    assert tags == {r.tag for r in test} == set(samples.modalities)
    assert tags == {
        "<X_RAY>",
        "<CT_SCAN>",
        "<MRI_SCAN>",
        "<ULTRASOUND>",
        "<SPECT>",
        "<FUNDUS_PHOTOGRAPHY>",
        "<MICROSCOPY>",
    }
    assert tags <= set(MODALITY_TAGS)
    assert {r.split for r in train} == {"train"} and {r.split for r in test} == {"test"}
    # Every image is a small PNG.
    from PIL import Image

    for path in (samples.images_dir).glob("*.png"):
        with Image.open(path) as img:
            assert max(img.size) == 224


def test_files_validate(samples):
    assert validate_file(samples.train_path).ok
    assert validate_file(samples.test_path).ok


def test_questions_are_varied_and_answers_short(samples):
    train = load_records(samples.train_path)
    assert len({r.question for r in train}) >= 20
    assert max(len(r.answer.split()) for r in train) <= 8
    modality = [r for r in train if r.id.endswith("-modality")]
    assert len(modality) == len({r.image[0] for r in train})  # one modality question per training view


def test_known_answers(samples):
    by_id = {r.id: r for r in load_records(samples.train_path)}
    assert by_id["chest-cr-full-orig-modality"].solution == "<X_RAY> X-ray (computed radiography)"
    assert by_id["bone-scan-full-orig-modality"].solution == "<SPECT> Nuclear medicine (bone scintigraphy)"
    assert by_id["brain-t1-cor50-orig-modality"].tag == "<MRI_SCAN>"
    sources = {r.source for r in by_id.values()}
    assert "samples:scikit-image/skimage/data/retina.jpg" in sources


def test_held_out_views_are_not_in_training(samples):
    train, test = load_records(samples.train_path), load_records(samples.test_path)
    assert not {i for r in train for i in r.image} & {i for r in test for i in r.image}
    report = find_contamination(train, samples.root, {"test": (test, samples.root)}, near_bits=0)
    assert [m for m in report.matches if m.kind != "image-near"] == []


def test_manifest_names_package_file_and_licence(samples):
    manifest = json.loads(samples.manifest_path.read_text())
    assert [s["key"] for s in manifest["sources"]] == [s.key for s in SAMPLE_SOURCES]
    for entry in manifest["sources"]:
        assert entry["package"] in {"pydicom", "pydicom-data", "scikit-image", "nibabel"}
        assert entry["licence"] and entry["file"] and entry["grounding"]
    assert (
        "| retina-fundus | <FUNDUS_PHOTOGRAPHY> | scikit-image |" in (samples.root / "SOURCES.md").read_text()
    )


def test_rebuild_is_byte_identical_and_ensure_reuses(samples, tmp_path):
    first = _tree_hash(samples.root)
    again = build_samples(tmp_path / "again")
    assert _tree_hash(again.root) == first
    assert again.digest == samples.digest
    before = again.train_path.stat().st_mtime_ns
    reused = ensure_samples(tmp_path / "again")
    assert reused == again and reused.train_path.stat().st_mtime_ns == before
    # An incomplete folder (manifest gone) is rebuilt.
    again.manifest_path.unlink()
    assert ensure_samples(tmp_path / "again").digest == samples.digest
