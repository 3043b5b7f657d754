"""The demo VLM: SmolLM2-135M grafted into a Qwen2-VL language model with a fresh vision tower.

No vision-language model ships in a registry package, so the offline demo builds one: Qwen2-VL's text
stack is a Llama-style decoder, so SmolLM2's weights copy over one to one (key renames only). The
differences are neutral by construction:

* Qwen2's q/k/v projections carry biases; they are set to zero.
* Qwen2-VL's multimodal RoPE gives text tokens the same position on its three axes, which is plain
  RoPE; ``mrope_section`` only matters for image tokens.
* The four vision tokens get new embedding rows, each the mean of SmolLM2's rows. With tied
  embeddings a new token's logit is then the mean of all other logits, never above their maximum,
  so greedy text generation cannot pick one: text-only output equals SmolLM2's.

The vision tower (4 blocks, width 192, ~2.5 M params) is random, seeded: the model "sees" nothing
until trained. Total 137 M parameters.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medix_r1.models.cache import materialize_dir, models_cache_dir
from medix_r1.models.extras import require_transformers

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["DEMO_VISION_CONFIG", "graft_into_qwen2_vl", "build_demo_vlm", "demo_vlm_dir"]

#: Vision tower of the demo VLM (Qwen2-VL vision config keys; ``hidden_size`` is set to the LM's width).
DEMO_VISION_CONFIG: dict[str, Any] = {
    "depth": 4,
    "embed_dim": 192,
    "num_heads": 3,
    "mlp_ratio": 2,
    "patch_size": 14,
}


def _check_graftable(config: Any) -> None:
    problems = []
    if getattr(config, "model_type", None) != "llama":
        problems.append(f"model_type is {config.model_type!r}, expected 'llama'")
    if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        problems.append("attention or MLP biases are not supported")
    rope = dict(getattr(config, "rope_parameters", None) or {})
    if rope.get("rope_type", "default") != "default":
        problems.append(f"rope_type {rope.get('rope_type')!r} is not supported (only 'default')")
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    if head_dim * config.num_attention_heads != config.hidden_size:
        problems.append("head_dim * num_attention_heads must equal hidden_size (Qwen2 derives head_dim)")
    if problems:
        raise ValueError("cannot graft this language model into Qwen2-VL: " + "; ".join(problems))


def graft_into_qwen2_vl(
    language_model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    *,
    vision_config: dict[str, Any] | None = None,
    seed: int = 0,
) -> PreTrainedModel:
    """A ``Qwen2VLForConditionalGeneration`` whose text model is ``language_model`` (a Llama-style LM).

    Args:
        language_model: e.g. SmolLM2 from :func:`~medix_r1.models.smollm2.load_smollm2`.
        tokenizer: the LM's tokenizer with the vision tokens added
            (:func:`~medix_r1.models.tokenizer.load_vl_tokenizer`); sets the vocabulary size.
        vision_config: overrides of :data:`DEMO_VISION_CONFIG`.
        seed: seeds the random vision tower (global RNG untouched).
    """
    require_transformers("grafting a language model into Qwen2-VL")
    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    from medix_r1.models.tiny import mrope_section
    from medix_r1.models.tokenizer import set_generation_tokens, vision_token_ids

    lm_config = language_model.config
    _check_graftable(lm_config)
    head_dim = lm_config.hidden_size // lm_config.num_attention_heads
    rope = dict(lm_config.rope_parameters or {})
    old_vocab = lm_config.vocab_size
    new_vocab = len(tokenizer)
    if new_vocab < old_vocab:
        raise ValueError(f"tokenizer has {new_vocab} tokens, fewer than the model's {old_vocab}")
    tied = bool(lm_config.tie_word_embeddings)
    text = {
        "vocab_size": new_vocab,
        "hidden_size": lm_config.hidden_size,
        "intermediate_size": lm_config.intermediate_size,
        "num_hidden_layers": lm_config.num_hidden_layers,
        "num_attention_heads": lm_config.num_attention_heads,
        "num_key_value_heads": lm_config.num_key_value_heads,
        "hidden_act": lm_config.hidden_act,
        "max_position_embeddings": lm_config.max_position_embeddings,
        "rms_norm_eps": lm_config.rms_norm_eps,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": float(rope.get("rope_theta", 10000.0)),
            "mrope_section": mrope_section(head_dim),
        },
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    vision = {**DEMO_VISION_CONFIG, **(vision_config or {}), "hidden_size": lm_config.hidden_size}
    config = Qwen2VLConfig(
        text_config=text, vision_config=vision, tie_word_embeddings=tied, **vision_token_ids(tokenizer)
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2VLForConditionalGeneration(config)
    model.to(language_model.dtype)

    source = language_model.state_dict()
    target = model.state_dict()

    def widen(rows: torch.Tensor) -> torch.Tensor:
        # New token rows = mean row (see module docstring for why greedy text output is unchanged).
        extra = rows.mean(dim=0, keepdim=True).expand(new_vocab - old_vocab, -1)
        return torch.cat([rows, extra], dim=0)

    weights: dict[str, torch.Tensor] = {}
    for key, value in source.items():
        if key == "lm_head.weight":
            if not tied:
                weights[key] = widen(value)
            continue
        new_key = "model.language_model." + key.removeprefix("model.")
        if new_key not in target:
            raise ValueError(f"graft: no place for {key!r} in Qwen2-VL (looked for {new_key!r})")
        weights[new_key] = widen(value) if key == "model.embed_tokens.weight" else value
    for key, value in target.items():
        if key.startswith("model.language_model.") and key not in weights:
            if not key.endswith(("q_proj.bias", "k_proj.bias", "v_proj.bias")):
                raise ValueError(f"graft: {key!r} has no counterpart in the language model")
            weights[key] = torch.zeros_like(value)
    result = model.load_state_dict(weights, strict=False)
    leftover = [k for k in result.missing_keys if not k.startswith("model.visual.") and k != "lm_head.weight"]
    if leftover or result.unexpected_keys:
        raise AssertionError(f"graft left weights unset: {leftover} / unexpected {result.unexpected_keys}")
    if tied:
        model.tie_weights()
    model.eval()
    set_generation_tokens(model, tokenizer)
    return model


def build_demo_vlm(
    seed: int = 0, *, cache_dir: str | os.PathLike[str] | None = None
) -> tuple[PreTrainedModel, Any]:
    """SmolLM2-135M grafted into Qwen2-VL with a seeded random vision tower, and its processor.

    SmolLM2 comes from the cache (materialised from the GGUF on first use). Returns
    ``(model, processor)``, fp32 on CPU, eval mode; images of 224 px become 36 visual tokens.
    """
    require_transformers("building the demo VLM")
    from medix_r1.models.processor import build_vl_processor, make_image_processor
    from medix_r1.models.smollm2 import load_smollm2
    from medix_r1.models.tokenizer import load_vl_tokenizer

    language_model, _ = load_smollm2(cache_dir, dtype="float32", device="cpu")
    tokenizer = load_vl_tokenizer(cache_dir)
    model = graft_into_qwen2_vl(language_model, tokenizer, seed=seed)
    patch_size = DEMO_VISION_CONFIG["patch_size"]
    return model, build_vl_processor(tokenizer, make_image_processor(patch_size), "qwen2_vl")


def demo_vlm_dir(
    seed: int = 0, *, cache_dir: str | os.PathLike[str] | None = None, rebuild: bool = False
) -> Path:
    """The cached folder of the demo VLM (``models/demo-vlm-seed<seed>``), built on first use."""
    from medix_r1.models.folders import save_policy

    def build(tmp: Path) -> None:
        model, processor = build_demo_vlm(seed, cache_dir=cache_dir)
        save_policy(model, processor, tmp)

    target = models_cache_dir(f"demo-vlm-seed{seed}", cache_dir)
    return materialize_dir(
        target, build, info={"seed": seed, "language_model": "smollm2-135m"}, rebuild=rebuild
    )
