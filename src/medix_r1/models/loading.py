"""Load policies and processors by any model argument: the one entry point training, evaluation,
the demo and chat use. A built-in name, a folder or a hub id is resolved through the registry
(:mod:`medix_r1.models.registry`), then loaded by location (:mod:`medix_r1.models.folders`, which
also holds :func:`~medix_r1.models.folders.save_policy`).

>>> from medix_r1.models import load_policy, save_policy      # doctest: +SKIP
>>> model, processor = load_policy("tiny-qwen2-vl")            # doctest: +SKIP
>>> save_policy(model, processor, "runs/step-0")               # doctest: +SKIP
>>> model, processor = load_policy("runs/step-0")              # the same model, by path  # doctest: +SKIP

A saved folder holds ``config.json``, ``generation_config.json``, ``model.safetensors``, the tokenizer
files with ``chat_template.jinja``, and (for VLMs) ``preprocessor_config.json``. Since the folder is
what ``config._name_or_path`` points to after loading, TRL can rebuild a reference model from it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from medix_r1.models.folders import load_from_source
from medix_r1.models.processor import processor_from_source
from medix_r1.models.registry import ModelSpec, resolve_model_spec

if TYPE_CHECKING:
    from transformers import PreTrainedModel

__all__ = ["load_policy", "load_processor"]


def load_policy(
    path_or_id: str | os.PathLike[str] | ModelSpec,
    *,
    dtype: Any = "auto",
    device: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    attn_implementation: str | None = None,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    **hub_kwargs: Any,
) -> tuple[PreTrainedModel, Any]:
    """Load a policy model and its processor.

    Args:
        path_or_id: a built-in name (``"tiny-qwen2-vl"``, ``"demo-vlm"``, ``"smollm2-135m"``, see
            :data:`~medix_r1.models.registry.BUILTIN_MODELS`), a saved folder, or a hub id such as
            ``"Qwen/Qwen3-VL-2B-Instruct"``. Built-ins are built into the cache on first use.
        dtype: ``"auto"`` (the checkpoint's), ``"float32"``, ``"bfloat16"``, ``"float16"`` or a torch dtype.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; default CUDA when available, else CPU.
        cache_dir: cache root for built-ins (default ``$MEDIX_R1_CACHE`` or ``~/.cache/medix-r1``).
        attn_implementation: passed to transformers (``"sdpa"``, ``"flash_attention_2"``...).
        min_pixels, max_pixels: override the image processor's pixel range.
        hub_kwargs: passed to ``from_pretrained`` (``revision=``, ``token=``, ``trust_remote_code=``).

    Returns:
        ``(model, processor)``: the model (``*ForConditionalGeneration`` for VLMs,
        ``*ForCausalLM`` for text-only models) on ``device`` in eval mode, and the processor from
        :func:`load_processor` (a tokenizer for text-only models).
    """
    spec = resolve_model_spec(path_or_id)
    return load_from_source(
        spec.materialize(cache_dir),
        name=spec.name,
        from_hub=spec.kind == "hub",
        dtype=dtype,
        device=device,
        attn_implementation=attn_implementation,
        min_pixels=min_pixels,
        max_pixels=max_pixels,
        **hub_kwargs,
    )


def load_processor(
    path_or_id: str | os.PathLike[str] | ModelSpec,
    *,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    image_only: bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    **hub_kwargs: Any,
) -> Any:
    """Load the processor of a policy: a model folder, a hub id or a built-in name.

    Args:
        path_or_id: anything :func:`~medix_r1.models.registry.resolve_model_spec` accepts
            (``"tiny-qwen2-vl"``, ``"demo-vlm"``, ``"smollm2-135m"``, a folder, a hub id).
        min_pixels, max_pixels: override the image processor's pixel range (MediX-R1 trains with
            512*512 .. 2048*2048, reference section 4).
        image_only: ``True`` always builds the torchvision-free processor; ``False`` requires
            ``AutoProcessor``; ``None`` (default) uses ``AutoProcessor`` when torchvision is importable
            and falls back otherwise.
        cache_dir: cache root for built-ins (default ``$MEDIX_R1_CACHE`` or ``~/.cache/medix-r1``).
        hub_kwargs: passed to ``from_pretrained`` (``revision=``, ``token=``, ``trust_remote_code=``).

    Returns:
        A processor for vision-language models (call it with ``text=`` and ``images=``), or the
        tokenizer for a text-only model.
    """
    spec = resolve_model_spec(path_or_id)
    return processor_from_source(
        spec.materialize(cache_dir),
        min_pixels=min_pixels,
        max_pixels=max_pixels,
        image_only=image_only,
        **hub_kwargs,
    )
