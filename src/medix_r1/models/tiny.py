"""Tiny random Qwen2-VL, Qwen2.5-VL and Qwen3-VL models for tests and the CPU quickstart.

Each is the real transformers architecture at toy size (2 text layers of width 64, a 2-block vision
tower; about 6.6 M parameters, nearly all of them the 49,156-row input embedding and output head)
with the offline tokenizer of :mod:`medix_r1.models.tokenizer`, so it tokenizes, takes images and
generates text like a full-size model, only meaninglessly. Building one takes well under a second
once the tokenizer is cached.

The output head is not tied to the embedding: with tied weights and near-zero random layers, the
last hidden state is close to the last input embedding, so greedy decoding repeats the prompt's last
token (``\n``) forever and every reply is empty. An untied random head gives varied words.

>>> from medix_r1.models.tiny import normalize_arch
>>> normalize_arch("Qwen2_5_VL"), normalize_arch("qwen3-vl")
('qwen2.5-vl', 'qwen3-vl')
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medix_r1.errors import did_you_mean
from medix_r1.models.cache import materialize_dir, models_cache_dir, samples_cache_dir
from medix_r1.models.extras import require_transformers

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "TINY_ARCHS",
    "VOCABULARIES",
    "samples_vocabulary_texts",
    "normalize_arch",
    "mrope_section",
    "tiny_vlm_config",
    "build_tiny_vlm",
    "tiny_vlm_dir",
]

#: arch name -> (transformers model_type, vision patch size).
TINY_ARCHS: dict[str, tuple[str, int]] = {
    "qwen2-vl": ("qwen2_vl", 14),
    "qwen2.5-vl": ("qwen2_5_vl", 14),
    "qwen3-vl": ("qwen3_vl", 16),
}
_ALIASES = {"qwen2-5-vl": "qwen2.5-vl", "qwen25-vl": "qwen2.5-vl"}

#: Which vocabulary a tiny model gets: ``full`` is the offline tokenizer's 49,156 tokens; ``samples``
#: keeps only what the bundled sample set, the MediX instructions and replies in both response
#: formats need (:func:`samples_vocabulary_texts`; about 900 tokens, any other text still encodes
#: byte by byte), so the output head, nearly all of a tiny model's compute, is ~50x smaller.
VOCABULARIES: tuple[str, ...] = ("full", "samples")

_HIDDEN = 64
_TEXT_LAYERS = 2
_HEADS = 4
_KV_HEADS = 2
_VISION_DEPTH = 2


def normalize_arch(arch: str) -> str:
    """Canonical arch name: ``qwen2-vl``, ``qwen2.5-vl`` or ``qwen3-vl`` (``_`` and case are forgiven)."""
    key = arch.strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key in TINY_ARCHS:
        return key
    hint = did_you_mean(key, TINY_ARCHS) or "."
    raise ValueError(f"unknown tiny VLM arch {arch!r}{hint} Choose one of: {', '.join(TINY_ARCHS)}")


def mrope_section(head_dim: int) -> list[int]:
    """Split of the rotary half-dimension over (time, height, width), in Qwen2-VL's 2:3:3 proportion.

    >>> mrope_section(128), mrope_section(64), mrope_section(16)
    ([16, 24, 24], [8, 12, 12], [2, 3, 3])
    """
    half = head_dim // 2
    t = half // 4
    h = (half - t) // 2
    return [t, h, half - t - h]


def samples_vocabulary_texts() -> list[str]:
    """The texts the ``samples`` vocabulary is trimmed to: the bundled sample set's training-split
    questions and answers, both MediX instructions, every modality tag, and a chat-formatted turn
    with a reply in each response format (the held-out split's words are all among these)."""
    from medix_r1.data import ensure_samples, load_records
    from medix_r1.modality import MODALITY_TAGS
    from medix_r1.parsing import THINK, THINKING
    from medix_r1.prompting import COMPACT_TEMPLATE, INSTRUCTION_TEMPLATE

    train = ensure_samples(samples_cache_dir()).train_path
    texts = [text for r in load_records(train) for text in (r.problem, r.solution)]
    texts += [INSTRUCTION_TEMPLATE, COMPACT_TEMPLATE, " ".join(MODALITY_TAGS)]
    for fmt in (THINKING, THINK):
        for reasoning in ("I look at the image.", "I read the image and the question."):
            reply = f"{fmt.think_open}{reasoning}{fmt.think_close}{fmt.answer_open}answer{fmt.answer_close}"
            texts.append(f"<|im_start|>user\nQuestion:<|im_end|>\n<|im_start|>assistant\n{reply}<|im_end|>\n")
    return texts


def tiny_vlm_config(arch: str, tokenizer: PreTrainedTokenizerBase) -> PretrainedConfig:
    """The config of a tiny ``arch`` model whose vocabulary and special ids are ``tokenizer``'s."""
    require_transformers("building a tiny VLM")
    from medix_r1.models.tokenizer import vision_token_ids

    arch = normalize_arch(arch)
    model_type, patch_size = TINY_ARCHS[arch]
    head_dim = _HIDDEN // _HEADS
    text: dict[str, Any] = {
        "vocab_size": len(tokenizer),
        "hidden_size": _HIDDEN,
        "intermediate_size": 2 * _HIDDEN,
        "num_hidden_layers": _TEXT_LAYERS,
        "num_attention_heads": _HEADS,
        "num_key_value_heads": _KV_HEADS,
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-6,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 10000.0,
            "mrope_section": mrope_section(head_dim),
        },
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    top: dict[str, Any] = {**vision_token_ids(tokenizer), "tie_word_embeddings": False}
    if model_type == "qwen2_vl":
        from transformers import Qwen2VLConfig

        vision = {"depth": _VISION_DEPTH, "embed_dim": _HIDDEN, "hidden_size": _HIDDEN, "num_heads": _HEADS}
        return Qwen2VLConfig(
            text_config=text, vision_config={**vision, "mlp_ratio": 2, "patch_size": patch_size}, **top
        )
    vision = {
        "depth": _VISION_DEPTH,
        "hidden_size": _HIDDEN,
        "intermediate_size": 2 * _HIDDEN,
        "num_heads": _HEADS,
        "out_hidden_size": _HIDDEN,
        "patch_size": patch_size,
    }
    if model_type == "qwen2_5_vl":
        from transformers import Qwen2_5_VLConfig

        # Last block attends globally, the others within 112 px windows, as in the full model.
        vision.update(fullatt_block_indexes=[_VISION_DEPTH - 1], window_size=112)
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **top)
    from transformers import Qwen3VLConfig

    text.update(head_dim=head_dim)
    text["rope_parameters"] = {**text["rope_parameters"], "mrope_interleaved": True}
    # 8x8 learned position grid (interpolated to the image); DeepStack taps the first block.
    vision.update(num_position_embeddings=64, deepstack_visual_indexes=[0])
    return Qwen3VLConfig(text_config=text, vision_config=vision, **top)


def build_tiny_vlm(
    arch: str = "qwen2-vl",
    seed: int = 0,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    vocabulary: str = "full",
) -> tuple[PreTrainedModel, Any]:
    """Build a tiny random ``arch`` model and its processor.

    Args:
        arch: ``"qwen2-vl"``, ``"qwen2.5-vl"`` or ``"qwen3-vl"``.
        seed: weights are a function of ``seed`` alone (the global RNG is left untouched).
        cache_dir: where the offline tokenizer is cached (default ``$MEDIX_R1_CACHE``).
        vocabulary: ``"full"`` or ``"samples"`` (:data:`VOCABULARIES`).

    Returns:
        ``(model, processor)``: a ``*ForConditionalGeneration`` in eval mode, float32 on CPU, and an
        image-only processor (images of 224 px become 36 visual tokens). Save both with
        :func:`medix_r1.models.folders.save_policy`.
    """
    require_transformers("building a tiny VLM")
    import torch
    from transformers import AutoModelForImageTextToText

    from medix_r1.models.processor import build_vl_processor, make_image_processor
    from medix_r1.models.tokenizer import load_vl_tokenizer, set_generation_tokens

    arch = normalize_arch(arch)
    model_type, patch_size = TINY_ARCHS[arch]
    if vocabulary not in VOCABULARIES:
        hint = did_you_mean(vocabulary, VOCABULARIES) or "."
        raise ValueError(
            f"unknown tiny VLM vocabulary {vocabulary!r}{hint} Choose one of: {', '.join(VOCABULARIES)}"
        )
    tokenizer = load_vl_tokenizer(cache_dir)
    if vocabulary == "samples":
        from medix_r1.models.tokenizer import trim_vocabulary

        tokenizer = trim_vocabulary(tokenizer, samples_vocabulary_texts())
    config = tiny_vlm_config(arch, tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForImageTextToText.from_config(config, dtype=torch.float32)
    model.eval()
    set_generation_tokens(model, tokenizer)
    processor = build_vl_processor(tokenizer, make_image_processor(patch_size), model_type)
    return model, processor


def tiny_vlm_dir(
    arch: str = "qwen2-vl",
    seed: int = 0,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    rebuild: bool = False,
    vocabulary: str = "full",
) -> Path:
    """The cached folder of a tiny model (``models/tiny-<arch>-seed<seed>``, with ``-samples-v<N>``
    for the ``samples`` vocabulary of sample-set version N), built on first use."""
    from medix_r1.models.folders import save_policy

    arch = normalize_arch(arch)

    def build(tmp: Path) -> None:
        model, processor = build_tiny_vlm(arch, seed, cache_dir=cache_dir, vocabulary=vocabulary)
        save_policy(model, processor, tmp)

    name = f"tiny-{arch}-seed{seed}"
    info: dict[str, Any] = {"arch": arch, "seed": seed}
    if vocabulary != "full":
        from medix_r1.data.samples import SAMPLES_VERSION

        name += f"-{vocabulary}-v{SAMPLES_VERSION}"
        info["vocabulary"] = vocabulary
    target = models_cache_dir(name, cache_dir)
    return materialize_dir(target, build, info=info, rebuild=rebuild)
