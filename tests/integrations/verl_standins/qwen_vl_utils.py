"""Test stand-in for ``qwen_vl_utils`` (images only), used by test_verl_contract.py on CPU.

The real package imports torchvision at import time, and no torchvision wheel matches the CPU torch
of these machines, so verl's ``RLHFDataset`` cannot run it here (it then drops every image row). This
module does the two things RLHFDataset asks of it for still images: open the image and resize it so
each side is a multiple of two patches, within the Qwen-VL pixel range. GPU installs use the real
package (``medix-r1[verl]`` installs it, ``medix-r1[verl-vllm]`` brings torchvision).
"""

from __future__ import annotations

import io
import math
from typing import Any

from PIL import Image

MIN_PIXELS = 4 * 28 * 28
MAX_PIXELS = 16384 * 28 * 28


def _open(ele: dict[str, Any]) -> Image.Image:
    image = ele.get("image")
    if isinstance(image, Image.Image):
        return image
    if isinstance(image, (bytes, bytearray)):
        return Image.open(io.BytesIO(image))
    if isinstance(image, dict) and image.get("bytes"):
        return Image.open(io.BytesIO(image["bytes"]))
    if isinstance(image, str):
        return Image.open(image.removeprefix("file://"))
    raise ValueError(f"stand-in qwen_vl_utils: cannot open image element {sorted(ele)}")


def fetch_image(ele: dict[str, Any], image_patch_size: int = 14) -> Image.Image:
    image = _open(ele).convert("RGB")
    factor = 2 * image_patch_size
    width, height = image.size
    w = max(factor, round(width / factor) * factor)
    h = max(factor, round(height / factor) * factor)
    min_pixels = ele.get("min_pixels", MIN_PIXELS)
    max_pixels = ele.get("max_pixels", MAX_PIXELS)
    if w * h > max_pixels:
        scale = math.sqrt(width * height / max_pixels)
        w, h = (max(factor, math.floor(x / scale / factor) * factor) for x in (width, height))
    elif w * h < min_pixels:
        scale = math.sqrt(min_pixels / (width * height))
        w, h = (math.ceil(x * scale / factor) * factor for x in (width, height))
    return image.resize((w, h))


def process_vision_info(
    messages: list[dict[str, Any]], image_patch_size: int = 14, return_video_metadata: bool = False
) -> tuple[list[Image.Image] | None, None]:
    images = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            for item in content:
                if isinstance(item, dict) and item.get("type") == "image":
                    images.append(fetch_image(item, image_patch_size=image_patch_size))
                elif isinstance(item, dict) and item.get("type") == "video":
                    raise NotImplementedError("the stand-in qwen_vl_utils handles still images only")
    return (images or None), None
