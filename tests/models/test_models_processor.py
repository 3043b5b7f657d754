"""The torchvision-free processor: loads, expands image tokens to match the grid, saves, pickles."""

from __future__ import annotations

import importlib.util
import pickle

import pytest

from medix_r1.models import build_messages, build_tiny_vlm, load_processor, save_policy
from medix_r1.models import processor as processor_module

NO_TORCHVISION = importlib.util.find_spec("torchvision") is None


@pytest.fixture(scope="module")
def saved(cache_dir, tmp_path_factory):
    """Saved tiny models of each arch: {arch: folder}."""
    folders = {}
    for arch in ("qwen2-vl", "qwen3-vl"):
        folders[arch] = save_policy(*build_tiny_vlm(arch, cache_dir=cache_dir), tmp_path_factory.mktemp(arch))
    return folders


def _encode(processor, image):
    text = processor.apply_chat_template(
        build_messages("Q", image=True), tokenize=False, add_generation_prompt=True
    )
    return processor(text=[text], images=[image], return_tensors="pt")


@pytest.mark.parametrize(
    # 224 px -> 6x6 merged patches of 2x2: grid (1, 12, 12), 144 patches, 36 image tokens.
    # A patch row holds 3 channels x 2 frames x patch^2 pixels.
    ("arch", "patch_values"),
    [("qwen2-vl", 3 * 2 * 14 * 14), ("qwen3-vl", 3 * 2 * 16 * 16)],
)
def test_fallback_processor(saved, image, arch, patch_values):
    processor = load_processor(saved[arch])
    assert processor.video_processor is None
    assert type(processor.image_processor).__name__ == "Qwen2VLImageProcessorPil"
    batch = _encode(processor, image)
    assert batch["image_grid_thw"].tolist() == [[1, 12, 12]]
    assert tuple(batch["pixel_values"].shape) == (144, patch_values)
    n_pad = int((batch["input_ids"] == processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")).sum())
    assert n_pad == int(batch["image_grid_thw"].prod()) // processor.image_processor.merge_size**2 == 36


@pytest.mark.skipif(not NO_TORCHVISION, reason="checks the failure that needs the fallback")
def test_auto_processor_alone_needs_torchvision(saved):
    with pytest.raises(ImportError, match="Torchvision"):
        load_processor(saved["qwen2-vl"], image_only=False)


def test_falls_back_when_auto_processor_fails(saved, image, monkeypatch):
    # Where torchvision is installed but cannot be used, AutoProcessor raises; we still get a processor.
    monkeypatch.setattr(processor_module, "torchvision_usable", lambda: True)
    import transformers

    def broken(*args, **kwargs):
        raise ImportError("Qwen2VLVideoProcessor requires the Torchvision library")

    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", broken)
    processor = load_processor(saved["qwen2-vl"])
    assert type(processor).__name__ == "Qwen2VLImageOnlyProcessor"
    assert _encode(processor, image)["image_grid_thw"].tolist() == [[1, 12, 12]]


def test_pixel_range_override(saved, image):
    # At most 56*56 pixels: the 224 px card shrinks to 56x56, a 4x4 patch grid, 4 image tokens.
    processor = load_processor(saved["qwen2-vl"], min_pixels=28 * 28, max_pixels=56 * 56)
    assert _encode(processor, image)["image_grid_thw"].tolist() == [[1, 4, 4]]
    with pytest.raises(ValueError, match=r"min_pixels \(4000\) is larger than max_pixels \(3136\)"):
        load_processor(saved["qwen2-vl"], min_pixels=4000, max_pixels=56 * 56)


def test_pickles_and_refuses_video(saved, image):
    processor = load_processor(saved["qwen2-vl"])
    clone = pickle.loads(pickle.dumps(processor))
    assert _encode(clone, image)["input_ids"].tolist() == _encode(processor, image)["input_ids"].tolist()
    with pytest.raises(ValueError, match="has no video processor"):
        processor(text=["<|vision_start|><|video_pad|><|vision_end|>"], videos=[[image, image]])


def test_saved_folder_layout(saved):
    names = {p.name for p in saved["qwen2-vl"].iterdir()}
    assert {
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
        "preprocessor_config.json",
    } <= names


def test_image_only_needs_a_qwen_vl_model(tmp_path, vl_tokenizer):
    vl_tokenizer.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="image_only=True needs a Qwen-VL model"):
        load_processor(tmp_path, image_only=True)


def test_legacy_chat_template_json_is_used(saved, tmp_path):
    # Hub Qwen-VL repos ship the processor's template as chat_template.json; AutoProcessor prefers it.
    import json
    import shutil

    folder = shutil.copytree(saved["qwen2-vl"], tmp_path / "legacy")
    (folder / "chat_template.jinja").unlink()
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": "{{ 'LEGACY' }}"}))
    processor = load_processor(folder)
    assert processor.apply_chat_template(build_messages("Q"), tokenize=False) == "LEGACY"
