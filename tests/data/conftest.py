"""Shared fixtures for the data-layer tests: tiny images and one sample-set build per session."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image


def png_bytes(size=(8, 6), colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels but whose file is a few bytes long."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(name="png_bytes")
def _png_bytes_fixture():
    return png_bytes


@pytest.fixture(name="bomb_png")
def _bomb_png_fixture():
    return bomb_png


@pytest.fixture(scope="session")
def samples(tmp_path_factory):
    from medix_r1.data.samples import build_samples

    return build_samples(tmp_path_factory.mktemp("samples"))


@pytest.fixture
def image_dir(tmp_path: Path) -> Path:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "ok.png").write_bytes(png_bytes())
    (tmp_path / "images" / "ok2.png").write_bytes(png_bytes(colour=(0, 0, 255)))
    return tmp_path
