"""Fixtures of the models tests: one temporary cache for the whole session, tiny images.

The cache is passed as ``cache_dir=`` rather than through ``$MEDIX_R1_CACHE`` so that no environment
change leaks into other test folders. The slow part, materialising SmolLM2 from its GGUF (~20 s), runs
once per session in the ``smollm2_path`` fixture.
"""

from __future__ import annotations

import os

import pytest

# Offline, whatever the caller's shell says: a hub look-up would hang ~49 s before failing.
for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

pytest.importorskip("transformers", reason="the models tests need the train extra")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("medix-cache")


@pytest.fixture(scope="session")
def vl_tokenizer(cache_dir):
    from medix_r1.models import load_vl_tokenizer

    return load_vl_tokenizer(cache_dir)


@pytest.fixture(scope="session")
def image():
    """A 224x224 RGB test card: a gradient with a bright square, so resizing has something to keep."""
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:224, 0:224]
    pixels = np.stack([x, y, (x + y) // 2], axis=-1).astype(np.uint8)
    pixels[80:144, 80:144] = 255
    return Image.fromarray(pixels, mode="RGB")


@pytest.fixture(scope="session")
def smollm2_path(cache_dir):
    from medix_r1.models import smollm2_dir

    return smollm2_dir(cache_dir)
