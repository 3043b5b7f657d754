"""SmolLM2 materialised from its GGUF into a plain checkpoint, and the demo VLM grafted from it.

Materialisation (~20 s) runs once per session (``smollm2_path`` fixture); every test here is slow.
"""

from __future__ import annotations

import json

import pytest
import torch

from medix_r1.models import (
    build_demo_vlm,
    generate_reply,
    load_policy,
    load_smollm2,
    load_vl_tokenizer,
)
from medix_r1.models.cache import read_manifest

pytestmark = pytest.mark.slow

QUESTION = "What is the capital of France?"


@pytest.fixture(scope="module")
def smollm2(smollm2_path, cache_dir):
    return load_smollm2(cache_dir, device="cpu")


@pytest.fixture(scope="module")
def demo(smollm2_path, cache_dir):
    return build_demo_vlm(seed=0, cache_dir=cache_dir)


def test_materialised_as_a_plain_llama(smollm2_path):
    config = json.loads((smollm2_path / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert "quantization_config" not in config
    assert "_model_name_or_path" not in config  # the GGUF's title is not a model id
    assert (config["vocab_size"], config["num_hidden_layers"], config["hidden_size"]) == (49152, 30, 576)
    assert read_manifest(smollm2_path)["source"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert {"model.safetensors", "tokenizer.json", "chat_template.jinja"} <= {
        p.name for p in smollm2_path.iterdir()
    }


def test_second_load_does_not_read_the_gguf(smollm2_path, cache_dir, monkeypatch):
    import medix_r1.models.smollm2 as smollm2_module
    import medix_r1.models.tokenizer as tokenizer_module

    def forbidden(*args, **kwargs):
        raise AssertionError("the GGUF was read although SmolLM2 is cached")

    monkeypatch.setattr(smollm2_module, "load_smollm2_from_gguf", forbidden)
    monkeypatch.setattr(tokenizer_module, "load_gguf_tokenizer", forbidden)
    model, tokenizer = load_policy("smollm2-135m", cache_dir=cache_dir, device="cpu")
    assert model.config._name_or_path == str(smollm2_path)
    assert getattr(model.config, "quantization_config", None) is None
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    # Text-only models come with their tokenizer (SmolLM2's own template, with its system prompt).
    assert type(tokenizer).__name__ == "TokenizersBackend"
    assert "named SmolLM" in tokenizer.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False)


def test_smollm2_answers(smollm2):
    model, tokenizer = smollm2
    assert generate_reply(model, tokenizer, QUESTION, max_new_tokens=12) == "The capital of France is Paris."
    with pytest.raises(ValueError, match="text-only model; it cannot answer about an image"):
        generate_reply(model, tokenizer, QUESTION, image="x.png")


def test_demo_vlm_size(demo):
    model, processor = demo
    assert type(model).__name__ == "Qwen2VLForConditionalGeneration"
    assert sum(p.numel() for p in model.parameters()) == 136_993_920
    assert sum(p.numel() for p in model.model.visual.parameters()) == 2_447_808


def test_graft_matches_smollm2_on_text(smollm2, demo, cache_dir):
    lm, _ = smollm2
    vlm, processor = demo
    tokenizer = load_vl_tokenizer(cache_dir)
    # The same prompt through both models, with the VL chat template for both.
    assert generate_reply(lm, tokenizer, QUESTION, max_new_tokens=12) == "The capital of France is Paris."
    assert generate_reply(vlm, processor, QUESTION, max_new_tokens=12) == "The capital of France is Paris."

    prompt = tokenizer(
        ["<|im_start|>user\nName three bones of the arm.<|im_end|>\n<|im_start|>assistant\n"],
        return_tensors="pt",
        add_special_tokens=False,
    )
    with torch.inference_mode():
        lm_out = lm.generate(**prompt, max_new_tokens=16, do_sample=False)
        vlm_out = vlm.generate(**prompt, max_new_tokens=16, do_sample=False)
        lm_logits = lm(**prompt).logits
        vlm_logits = vlm(**prompt).logits
    assert lm_out.tolist() == vlm_out.tolist()
    # Zero q/k/v biases and plain-text M-RoPE leave the logits unchanged (up to float rounding) ...
    torch.testing.assert_close(vlm_logits[..., :49152], lm_logits, rtol=0, atol=1e-4)
    # ... and a vision token's logit is the mean of the others, so it never wins a greedy step.
    assert bool((vlm_logits[..., 49152:].max(-1).values < lm_logits.max(-1).values).all())


def test_demo_vlm_sees_an_image(demo, image):
    model, processor = demo
    reply = generate_reply(model, processor, "Describe the image.", image, max_new_tokens=6)
    assert isinstance(reply, str) and reply


def test_demo_vlm_builtin_reloads_by_path(demo, cache_dir):
    model, processor = load_policy("demo-vlm", cache_dir=cache_dir, device="cpu")
    assert model.config._name_or_path == str(cache_dir / "models" / "demo-vlm-seed0")
    assert type(processor).__name__ == "Qwen2VLImageOnlyProcessor"
    fresh, _ = demo
    visual = "model.visual.merger.mlp.2.weight"
    assert torch.equal(model.state_dict()[visual], fresh.state_dict()[visual])  # same seed, same tower
    assert generate_reply(model, processor, QUESTION, max_new_tokens=12) == "The capital of France is Paris."
