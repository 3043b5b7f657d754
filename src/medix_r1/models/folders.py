"""Models as folders (or hub ids): load one by its location, save one so it reloads by path.

No model names here: :func:`medix_r1.models.loading.load_policy` resolves a built-in name, a
folder or a hub id through the registry and then loads it with :func:`load_from_source`. The
builders of the built-in models (tiny, SmolLM2, the demo graft) write and read their folders
through here, so the registry that names them never sits in their import chain.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medix_r1.models.extras import require_transformers

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedModel

__all__ = ["load_from_source", "save_policy", "is_vision_language", "resolve_dtype", "default_device"]


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


def load_from_source(
    source: str,
    *,
    name: str | None = None,
    from_hub: bool = False,
    dtype: Any = "auto",
    device: str | None = None,
    attn_implementation: str | None = None,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    **hub_kwargs: Any,
) -> tuple[PreTrainedModel, Any]:
    """``(model, processor)`` from what ``from_pretrained`` reads: a folder or (``from_hub``) a hub id.

    ``name`` is how the caller named the model, for error messages (default: ``source``).
    """
    require_transformers("loading a policy")
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText

    from medix_r1.models.processor import processor_from_source

    try:
        config = AutoConfig.from_pretrained(source, **hub_kwargs)
    except OSError as err:
        where = "no hub is reachable or the id is wrong" if from_hub else "the folder has no config.json"
        raise OSError(f"cannot load model {name or source!r} from {source!r}: {where} ({err})") from err
    auto_class = AutoModelForImageTextToText if is_vision_language(config) else AutoModelForCausalLM
    extra: dict[str, Any] = {}
    if attn_implementation is not None:
        extra["attn_implementation"] = attn_implementation
    model = auto_class.from_pretrained(source, dtype=resolve_dtype(dtype), **extra, **hub_kwargs)
    model.to(device or default_device())
    model.eval()
    processor = processor_from_source(source, min_pixels=min_pixels, max_pixels=max_pixels, **hub_kwargs)
    return model, processor


def save_policy(model: PreTrainedModel, processor: Any, path: str | os.PathLike[str]) -> Path:
    """Save ``model`` and ``processor`` into one folder that :func:`~medix_r1.models.loading.load_policy` (and TRL) reload by path.

    Returns the folder.
    """
    from medix_r1.models.processor import save_processor

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    save_processor(processor, path)
    return path
