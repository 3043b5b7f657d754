"""Fixtures of the demo tests: the bundled sample set, a DICOM file, and a demo served on loopback.

The served demo uses the registered ``fake`` backend, so page and API tests take seconds; the one
test of the default model is marked ``slow``.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

pytest.importorskip("pydicom", reason="the demo tests need the data extra")

CHEST_XRAY = "chest-cr-full-orig.png"


@pytest.fixture(scope="session")
def samples(tmp_path_factory):
    from medix_r1.data.samples import ensure_samples

    return ensure_samples(tmp_path_factory.mktemp("demo-samples"))


@pytest.fixture(scope="session")
def chest_png(samples) -> Path:
    return samples.images_dir / CHEST_XRAY


@pytest.fixture(scope="session")
def ct_dicom() -> Path:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("CT_small.dcm"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (free a moment ago)."""
    return _free_port()


@pytest.fixture(scope="module")
def fake_server(samples):
    """The demo with the fake backend, served on 127.0.0.1; yields its URL."""
    pytest.importorskip("gradio", reason="the demo extra is not installed")
    from medix_r1.demo import FakeAnswerer, build_app, launch

    app = build_app(FakeAnswerer(), examples_dir=samples.root)
    port = _free_port()
    launch(app, port=port, block=False, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()
