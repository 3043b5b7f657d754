"""The 16 imaging-modality tags of MediX-R1 and the names people and DICOM headers use for them.

The policy opens every answer with one tag such as ``<X_RAY>`` (reference section 1); a training
``solution`` starts with the same tag. Data converters map DICOM ``Modality`` codes and everyday
names ("chest radiograph", "MRI") onto the tags through :func:`resolve_modality`.

>>> resolve_modality("CR").tag
'<X_RAY>'
>>> resolve_modality("<mri_scan>").name
'MRI_SCAN'
>>> resolve_modality("fundus photo").tag
'<FUNDUS_PHOTOGRAPHY>'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from medix_r1.errors import MedixError, did_you_mean

__all__ = [
    "MODALITIES",
    "MODALITY_NAMES",
    "MODALITY_TAGS",
    "DICOM_MODALITY_CODES",
    "Modality",
    "UnknownModalityError",
    "resolve_modality",
    "modality_from_dicom",
    "is_modality_tag",
]


@dataclass(frozen=True)
class Modality:
    """One modality of the taxonomy: its tag name, a human label and the names that map to it."""

    name: str
    label: str
    aliases: tuple[str, ...] = field(default=())
    dicom_codes: tuple[str, ...] = field(default=())

    @property
    def tag(self) -> str:
        return f"<{self.name}>"


# Order is the order of the published prompt's list (reference section 1).
MODALITIES: tuple[Modality, ...] = (
    Modality(
        "X_RAY",
        "X-ray radiography",
        ("xray", "x ray", "radiograph", "radiography", "plain film", "chest x-ray", "cxr", "dr", "cr"),
        ("CR", "DX", "RG"),
    ),
    Modality(
        "MICROSCOPY",
        "Microscopy / histopathology",
        ("histology", "histopathology", "pathology", "light microscopy", "cytology", "slide", "wsi"),
        ("SM", "GM"),
    ),
    Modality(
        "CLINICAL_PHOTOGRAPHY",
        "Clinical photograph",
        ("photo", "photograph", "dermatology", "dermoscopy", "skin photo", "clinical photo"),
        ("XC",),
    ),
    Modality("CT_SCAN", "Computed tomography", ("ct", "cat scan", "computed tomography", "cta"), ("CT",)),
    Modality(
        "GRAPHICS", "Chart, diagram or drawing", ("graphic", "chart", "diagram", "figure", "plot", "drawing")
    ),
    Modality(
        "ANGIOGRAPHY",
        "Angiography",
        ("angiogram", "dsa", "digital subtraction angiography", "x-ray angiography"),
        ("XA",),
    ),
    Modality(
        "PET_SCAN",
        "Positron emission tomography",
        ("pet", "pet-ct", "pet/ct", "positron emission tomography"),
        ("PT",),
    ),
    Modality(
        "ULTRASOUND",
        "Ultrasound",
        ("us", "ultrasonography", "sonography", "sonogram", "echo", "echocardiography", "doppler"),
        ("US", "IVUS"),
    ),
    Modality(
        "MRI_SCAN",
        "Magnetic resonance imaging",
        ("mri", "mr", "magnetic resonance", "magnetic resonance imaging"),
        ("MR",),
    ),
    Modality(
        "FUNDUS_PHOTOGRAPHY",
        "Fundus photograph",
        (
            "fundus",
            "fundus photo",
            "retinal photograph",
            "retina photo",
            "fundoscopy",
            "ophthalmic photography",
        ),
        ("OP",),
    ),
    Modality(
        "OCT_SCAN", "Optical coherence tomography", ("oct", "optical coherence tomography"), ("OPT", "OCT")
    ),
    Modality(
        "ENDOSCOPY",
        "Endoscopy",
        ("endoscopic", "colonoscopy", "gastroscopy", "laparoscopy", "bronchoscopy"),
        ("ES",),
    ),
    Modality("MAMMOGRAPHY", "Mammography", ("mammogram", "breast x-ray", "tomosynthesis"), ("MG",)),
    Modality("FLUOROSCOPY", "Fluoroscopy", ("fluoro", "barium swallow", "radioscopy"), ("RF",)),
    Modality("OTHER", "Other", ("unknown", "other modality"), ("OT",)),
    Modality(
        "SPECT",
        "Single-photon emission CT / nuclear medicine",
        ("nuclear medicine", "scintigraphy", "bone scan", "nm", "gamma camera"),
        ("NM", "ST"),
    ),
)

MODALITY_NAMES: tuple[str, ...] = tuple(m.name for m in MODALITIES)
MODALITY_TAGS: tuple[str, ...] = tuple(m.tag for m in MODALITIES)

#: DICOM (0008,0060) Modality code -> taxonomy entry.
DICOM_MODALITY_CODES: dict[str, Modality] = {code: m for m in MODALITIES for code in m.dicom_codes}


def _key(text: str) -> str:
    # "<X_RAY>", "x-ray", "X ray" and "xray" all become "xray".
    return re.sub(r"[\s<>_\-/.]+", "", text.strip().casefold())


_LOOKUP: dict[str, Modality] = {}
for _m in MODALITIES:
    for _alias in (_m.name, _m.label, *_m.aliases):
        _LOOKUP.setdefault(_key(_alias), _m)
for _code, _m in DICOM_MODALITY_CODES.items():
    _LOOKUP.setdefault(_key(_code), _m)


class UnknownModalityError(MedixError, ValueError):
    """A modality name that is neither a tag, an alias nor a DICOM code of the taxonomy."""


def resolve_modality(text: str) -> Modality:
    """Map a tag (``<CT_SCAN>``), a tag name, an alias or a DICOM code to its :class:`Modality`.

    Raises :class:`UnknownModalityError` listing the closest valid names.

    >>> resolve_modality("Computed Tomography").name
    'CT_SCAN'
    >>> resolve_modality("NM").tag
    '<SPECT>'
    """
    found = _LOOKUP.get(_key(text))
    if found is not None:
        return found
    hint = did_you_mean(_key(text), _LOOKUP, n=3, shown=lambda key: _LOOKUP[key].tag) or "."
    raise UnknownModalityError(f"unknown modality {text!r}{hint} Valid tags: {', '.join(MODALITY_TAGS)}")


def modality_from_dicom(code: str | None) -> Modality:
    """The taxonomy entry for a DICOM ``Modality`` header value; unknown or empty codes give OTHER.

    >>> modality_from_dicom("MR").tag
    '<MRI_SCAN>'
    >>> modality_from_dicom("XYZ").tag
    '<OTHER>'
    """
    return DICOM_MODALITY_CODES.get((code or "").strip().upper(), DICOM_MODALITY_CODES["OT"])


def is_modality_tag(text: str) -> bool:
    """True when ``text`` is exactly one of the 16 tags (case-sensitive, as written in solutions).

    >>> is_modality_tag("<CT_SCAN>"), is_modality_tag("<ct_scan>"), is_modality_tag("CT")
    (True, False, False)
    """
    return text in MODALITY_TAGS
