"""Qwen-VL processor classes that accept ``video_processor=None``.

Imported only by :mod:`medix_r1.models.processor` when a processor is built, because it imports
transformers. The Qwen-VL processors require a video processor, and transformers' video processors
need torchvision, which we cannot install (the registry's build is CUDA-only and fails to import with
CPU torch; see reference/offline-assets.md). Images do not need it: the PIL-backed image processor
does their work. These subclasses relax only the argument-class check for a missing video processor;
everything else (token expansion, ``mm_token_type_ids``, chat templates) is the parent's.

They are module-level classes (not made on the fly) so that processors pickle, which TRL's and
Ray's workers need. Calling one with ``videos=`` raises, naming torchvision.
"""

from __future__ import annotations

from typing import Any

from transformers.models.qwen2_5_vl.processing_qwen2_5_vl import Qwen2_5_VLProcessor
from transformers.models.qwen2_vl.processing_qwen2_vl import Qwen2VLProcessor
from transformers.models.qwen3_vl.processing_qwen3_vl import Qwen3VLProcessor

__all__ = [
    "Qwen2VLImageOnlyProcessor",
    "Qwen2_5_VLImageOnlyProcessor",
    "Qwen3VLImageOnlyProcessor",
    "IMAGE_ONLY_PROCESSORS",
]


class _ImageOnly:
    """Mixin: allow ``video_processor=None`` and refuse videos with a clear error."""

    def check_argument_for_proper_class(self, argument_name: str, argument: Any) -> Any:
        if argument_name == "video_processor" and argument is None:
            return None
        return super().check_argument_for_proper_class(argument_name, argument)  # type: ignore[misc]

    def __call__(self, *args: Any, videos: Any = None, **kwargs: Any) -> Any:
        if videos is not None:
            raise ValueError(
                f"{type(self).__name__} has no video processor (transformers' video processors need "
                "torchvision); pass images only, or install a torchvision that matches your torch"
            )
        return super().__call__(*args, **kwargs)  # type: ignore[misc]


class Qwen2VLImageOnlyProcessor(_ImageOnly, Qwen2VLProcessor):
    """:class:`~transformers.Qwen2VLProcessor` without a video processor."""


class Qwen2_5_VLImageOnlyProcessor(_ImageOnly, Qwen2_5_VLProcessor):
    """:class:`~transformers.Qwen2_5_VLProcessor` without a video processor."""


class Qwen3VLImageOnlyProcessor(_ImageOnly, Qwen3VLProcessor):
    """:class:`~transformers.Qwen3VLProcessor` without a video processor."""


#: model_type (config.json) -> image-only processor class.
IMAGE_ONLY_PROCESSORS: dict[str, type] = {
    "qwen2_vl": Qwen2VLImageOnlyProcessor,
    "qwen2_5_vl": Qwen2_5_VLImageOnlyProcessor,
    "qwen3_vl": Qwen3VLImageOnlyProcessor,
    "qwen3_vl_moe": Qwen3VLImageOnlyProcessor,
}
