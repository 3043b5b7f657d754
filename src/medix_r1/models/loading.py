"""Load and save policies: the one entry point training, evaluation, the demo and chat use.

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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medix_r1.models.extras import require_transformers
from medix_r1.models.registry import ModelSpec, resolve_model_spec

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedModel

__all__ = ["load_policy", "save_policy", "is_vision_language", "resolve_dtype", "default_device"]


def is_vision_language(config: PretrainedConfig) -> bool:
    """Whether a model config describes an image-text-to-text model (it has a ``vision_config``)."""
    return getattr(config, "vision_config", None) is not None


def default_device() -> str:
    """``"cuda"`` when a CUDA device is visible, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: Any) -> Any:
    """``"auto"`` stays ``"auto"`` (the checkpoint's dtype); names such as ``"bfloat16"`` or ``"bf16"``
    become ``torch`` dtypes; a ``torch.dtype`` passes through."""
    import torch

    if dtype is None or dtype == "auto" or isinstance(dtype, torch.dtype):
        return "auto" if dtype is None else dtype
    names = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "half": "float16", "float": "float32"}
    name = names.get(str(dtype).lower(), str(dtype).lower())
    value = getattr(torch, name, None)
    if not isinstance(value, torch.dtype):
        raise ValueError(f"unknown dtype {dtype!r}; use 'auto', 'float32', 'bfloat16' or 'float16'")
    return value


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
        :func:`~medix_r1.models.processor.load_processor` (a tokenizer for text-only models).
    """
    require_transformers("loading a policy")
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText

    from medix_r1.models.processor import load_processor

    spec = resolve_model_spec(path_or_id)
    source = spec.materialize(cache_dir)
    try:
        config = AutoConfig.from_pretrained(source, **hub_kwargs)
    except OSError as err:
        where = (
            "no hub is reachable or the id is wrong"
            if spec.kind == "hub"
            else "the folder has no config.json"
        )
        raise OSError(f"cannot load model {spec.name!r} from {source!r}: {where} ({err})") from err
    auto_class = AutoModelForImageTextToText if is_vision_language(config) else AutoModelForCausalLM
    extra: dict[str, Any] = {}
    if attn_implementation is not None:
        extra["attn_implementation"] = attn_implementation
    model = auto_class.from_pretrained(source, dtype=resolve_dtype(dtype), **extra, **hub_kwargs)
    model.to(device or default_device())
    model.eval()
    processor = load_processor(
        spec, cache_dir=cache_dir, min_pixels=min_pixels, max_pixels=max_pixels, **hub_kwargs
    )
    return model, processor


def save_policy(model: PreTrainedModel, processor: Any, path: str | os.PathLike[str]) -> Path:
    """Save ``model`` and ``processor`` into one folder that :func:`load_policy` (and TRL) reload by path.

    Returns the folder.
    """
    from medix_r1.models.processor import save_processor

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    save_processor(processor, path)
    return path
