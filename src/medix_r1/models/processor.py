"""Processors for Qwen-VL policies that work without torchvision, and how to save and reload them.

``AutoProcessor`` fails for Qwen-VL models when torchvision is absent, because it also builds a video
processor. :func:`~medix_r1.models.loading.load_processor` then builds the same processor from ``AutoImageProcessor`` (the
PIL-backed ``Qwen2VLImageProcessorPil``) and the tokenizer, with ``video_processor=None`` (see
:mod:`medix_r1.models.videoless`). Training, evaluation and the demo load every processor here.

A saved processor is two parts in the model folder: the tokenizer files (with ``chat_template.jinja``)
and ``preprocessor_config.json``. With torchvision installed, ``AutoProcessor`` reads the same folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medix_r1.models.extras import require_transformers

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase, ProcessorMixin

__all__ = [
    "TINY_MIN_PIXELS",
    "TINY_MAX_PIXELS",
    "make_image_processor",
    "build_vl_processor",
    "save_processor",
    "processor_from_source",
    "torchvision_usable",
]

#: Pixel range of the tiny and demo models, in units of one merged patch (2x2 patches): a 224 px
#: square becomes 6x6 = 36 visual tokens, so CPU tests and the quickstart stay fast.
TINY_MIN_PIXELS = 2 * 2
TINY_MAX_PIXELS = 6 * 6


def torchvision_usable() -> bool:
    """Whether transformers sees torchvision (then ``AutoProcessor`` is tried first)."""
    from transformers.utils import is_torchvision_available

    return bool(is_torchvision_available())


def make_image_processor(
    patch_size: int = 14,
    *,
    merge_size: int = 2,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
) -> Any:
    """A PIL-backed Qwen-VL image processor (no torchvision).

    ``min_pixels`` / ``max_pixels`` default to :data:`TINY_MIN_PIXELS` / :data:`TINY_MAX_PIXELS` merged
    patches, i.e. ``(patch_size * merge_size) ** 2`` pixels each.
    """
    require_transformers("building an image processor")
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    unit = (patch_size * merge_size) ** 2
    return Qwen2VLImageProcessorPil(
        patch_size=patch_size,
        merge_size=merge_size,
        min_pixels=min_pixels if min_pixels is not None else TINY_MIN_PIXELS * unit,
        max_pixels=max_pixels if max_pixels is not None else TINY_MAX_PIXELS * unit,
    )


def build_vl_processor(
    tokenizer: PreTrainedTokenizerBase, image_processor: Any, model_type: str = "qwen2_vl"
) -> ProcessorMixin:
    """Combine ``tokenizer`` and ``image_processor`` into the image-only processor of ``model_type``
    (``qwen2_vl``, ``qwen2_5_vl``, ``qwen3_vl`` or ``qwen3_vl_moe``); its chat template is the tokenizer's."""
    require_transformers("building a processor")
    from medix_r1.models.videoless import IMAGE_ONLY_PROCESSORS

    try:
        cls = IMAGE_ONLY_PROCESSORS[model_type]
    except KeyError:
        raise ValueError(
            f"no image-only processor for model_type {model_type!r}; "
            f"known: {', '.join(sorted(IMAGE_ONLY_PROCESSORS))}"
        ) from None
    return cls(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=None,
        chat_template=tokenizer.chat_template,
    )


def save_processor(processor: Any, path: str | os.PathLike[str]) -> Path:
    """Save a processor (or a bare tokenizer) so that :func:`~medix_r1.models.loading.load_processor` can read it back.

    An image-only processor cannot go through ``ProcessorMixin.save_pretrained`` (it expects every
    part to be present), so its tokenizer and image processor are saved side by side.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    image_processor = getattr(processor, "image_processor", None)
    if image_processor is not None and getattr(processor, "video_processor", None) is None:
        tokenizer = processor.tokenizer
        if processor.chat_template and tokenizer.chat_template != processor.chat_template:
            tokenizer.chat_template = processor.chat_template
        tokenizer.save_pretrained(path)
        image_processor.save_pretrained(path)
    else:
        processor.save_pretrained(path)
    return path


def _model_type(path_or_id: str, **hub_kwargs: Any) -> str | None:
    """``model_type`` from the folder's ``config.json``, or ``None`` when there is no model config."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(path_or_id, **hub_kwargs).model_type
    except (OSError, ValueError):
        return None  # a processor-only folder: AutoProcessor alone decides


def _processor_chat_template(source: str, tokenizer: Any, **hub_kwargs: Any) -> str | None:
    """The template ``AutoProcessor`` would use: ``chat_template.jinja``, else the older
    ``chat_template.json`` (how hub Qwen-VL repos ship theirs), else the tokenizer's own."""
    import json

    from transformers.utils import cached_file

    hub = {k: v for k, v in hub_kwargs.items() if k in ("revision", "token", "cache_dir", "local_files_only")}
    for name in ("chat_template.jinja", "chat_template.json"):
        file = cached_file(
            source,
            name,
            _raise_exceptions_for_missing_entries=False,
            _raise_exceptions_for_connection_errors=False,
            **hub,
        )
        if file is None:
            continue
        text = Path(file).read_text(encoding="utf-8")
        return text if name.endswith(".jinja") else json.loads(text)["chat_template"]
    return tokenizer.chat_template


def _with_pixel_range(image_processor: Any, min_pixels: int | None, max_pixels: int | None) -> Any:
    if min_pixels is None and max_pixels is None:
        return image_processor
    config = image_processor.to_dict()
    size = dict(config.get("size") or {})
    if min_pixels is not None:
        size["shortest_edge"] = int(min_pixels)
    if max_pixels is not None:
        size["longest_edge"] = int(max_pixels)
    if size.get("shortest_edge", 0) > size.get("longest_edge", float("inf")):
        raise ValueError(
            f"min_pixels ({size['shortest_edge']}) is larger than max_pixels ({size['longest_edge']})"
        )
    config["size"] = size
    return type(image_processor).from_dict(config)


def processor_from_source(
    source: str,
    *,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    image_only: bool | None = None,
    **hub_kwargs: Any,
) -> Any:
    """The processor that :func:`~medix_r1.models.loading.load_processor` returns, from what
    ``from_pretrained`` reads (a folder or a hub id; no model names here)."""
    require_transformers("loading a processor")
    model_type = _model_type(source, **hub_kwargs)
    from medix_r1.models.videoless import IMAGE_ONLY_PROCESSORS

    can_fall_back = model_type in IMAGE_ONLY_PROCESSORS
    if image_only and not can_fall_back:
        raise ValueError(
            f"image_only=True needs a Qwen-VL model ({', '.join(sorted(IMAGE_ONLY_PROCESSORS))}); "
            f"{source} has model_type {model_type!r}"
        )
    use_auto = not image_only if image_only is not None else not (can_fall_back and not torchvision_usable())
    if use_auto:
        from transformers import AutoProcessor

        try:
            processor = AutoProcessor.from_pretrained(source, **hub_kwargs)
        except (ImportError, RuntimeError):
            # ImportError: torchvision missing; RuntimeError: a torchvision built for another torch
            # fails while registering its operators. Either way images need no torchvision.
            if not can_fall_back or image_only is False:
                raise
        else:
            if min_pixels is not None or max_pixels is not None:
                if getattr(processor, "image_processor", None) is None:
                    raise ValueError(f"min_pixels / max_pixels given, but {source} has no image processor")
                processor.image_processor = _with_pixel_range(
                    processor.image_processor, min_pixels, max_pixels
                )
            return processor

    from transformers import AutoImageProcessor, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source, **hub_kwargs)
    image_processor = AutoImageProcessor.from_pretrained(source, **hub_kwargs)
    image_processor = _with_pixel_range(image_processor, min_pixels, max_pixels)
    assert model_type is not None  # can_fall_back implies a known model_type
    processor = build_vl_processor(tokenizer, image_processor, model_type)
    processor.chat_template = _processor_chat_template(source, tokenizer, **hub_kwargs)
    return processor
