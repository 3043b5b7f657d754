"""Count a record's prompt tokens the way the policy will see them: text tokens plus image tokens.

Training truncates prompts longer than ``max_prompt_length`` (4352 in the paper, reference section
4); a large image can push a short question over it, because a VLM spends many tokens per image.
Qwen-VL processors cut an image (after resizing it to a multiple of ``patch_size * merge_size``) into
14x14 patches and merge each 2x2 group into one token: a 224x224 image is (224/14)*(224/14)/4 = 64
tokens, plus the vision start/end markers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medix_r1.data.schema import IMAGE_PLACEHOLDER
from medix_r1.errors import MedixError

__all__ = ["PromptCounter", "ProcessorLoadError", "load_prompt_counter"]


class ProcessorLoadError(MedixError, ValueError):
    """The tokenizer / image processor folder cannot be loaded or cannot count image tokens."""


@dataclass
class PromptCounter:
    """Counts prompt tokens with a tokenizer and (optionally) an image processor.

    ``overhead`` adds a fixed number of tokens per prompt (the instruction template wrapped around
    the question in training).
    """

    tokenizer: Any
    image_processor: Any = None
    overhead: int = 0

    def text_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    @property
    def markers_per_image(self) -> int:
        # Qwen-VL chat templates wrap each image as <|vision_start|> pads <|vision_end|>.
        vocab = self.tokenizer.get_vocab() if hasattr(self.tokenizer, "get_vocab") else {}
        return 2 if "<|vision_start|>" in vocab and "<|vision_end|>" in vocab else 0

    def image_tokens(self, width: int, height: int) -> int:
        """Tokens one image of this size becomes (0 without an image processor)."""
        proc = self.image_processor
        if proc is None:
            return 0
        merge = int(getattr(proc, "merge_size", 1) or 1)
        if hasattr(proc, "get_number_of_image_patches"):
            patches = int(proc.get_number_of_image_patches(height, width, {}))
            return patches // (merge * merge)
        return self._tokens_by_running(width, height, merge)

    def _tokens_by_running(self, width: int, height: int, merge: int) -> int:
        from PIL import Image

        out = self.image_processor(images=[Image.new("RGB", (width, height))], return_tensors="np")
        if "image_grid_thw" in out:
            return int(out["image_grid_thw"].prod()) // (merge * merge)
        patch = getattr(self.image_processor, "patch_size", None)
        shape = getattr(out.get("pixel_values"), "shape", None)
        if patch and shape is not None and len(shape) == 4:
            return (int(shape[2]) // int(patch)) * (int(shape[3]) // int(patch))
        raise ProcessorLoadError(
            f"cannot tell how many tokens {type(self.image_processor).__name__} makes per image: it has no "
            "get_number_of_image_patches, returns no image_grid_thw and has no patch_size"
        )

    def count(self, problem: str, image_sizes: list[tuple[int, int]]) -> int:
        """Prompt tokens of a problem whose ``<image>`` placeholders stand for images of these sizes."""
        text = " ".join(problem.replace(IMAGE_PLACEHOLDER, " ").split())
        images = sum(self.image_tokens(w, h) + self.markers_per_image for w, h in image_sizes)
        return self.overhead + self.text_tokens(text) + images


def load_prompt_counter(path: str | os.PathLike[str], *, overhead: int = 0) -> PromptCounter:
    """Load ``AutoTokenizer`` and, when the folder has one, ``AutoImageProcessor`` from a local folder.

    Only local folders are accepted (no hub look-up), so a typo fails at once with the path named.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ProcessorLoadError(
            f"{folder}: not a folder; pass the folder holding tokenizer and preprocessor files"
        )
    try:
        from transformers import AutoImageProcessor, AutoTokenizer
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ProcessorLoadError(
            "counting prompt tokens needs transformers: pip install 'medix-r1[train]'"
        ) from exc
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProcessorLoadError(f"{folder}: no loadable tokenizer ({exc})") from exc
    image_processor = None
    if (folder / "preprocessor_config.json").is_file():
        try:
            image_processor = AutoImageProcessor.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError, KeyError, TypeError, ImportError) as exc:
            raise ProcessorLoadError(f"{folder}: preprocessor_config.json cannot be loaded ({exc})") from exc
    return PromptCounter(tokenizer, image_processor, overhead)
