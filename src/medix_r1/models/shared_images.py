"""Encode each distinct image of a batch once.

GRPO repeats every prompt ``group_size`` times, so a batch of 64 completions carries 8 copies of
each of 8 images, and the vision tower of a Qwen2-VL style model encodes every copy: in generation,
in the log-probability pass and in the backward pass. :func:`encode_each_image_once` makes the
model's ``get_image_features`` run the vision tower on the distinct images only and hand the same
feature tensor to every copy. The result is the same as encoding each copy (the vision tower sees
one image at a time: its attention is split per image), and so are the gradients, which autograd
sums over the copies.

Images are matched by their grid and their exact pixel values (a cheap fingerprint first, then
``torch.equal``), so two different images are never merged.
"""

from __future__ import annotations

import types
from typing import Any

__all__ = ["encode_each_image_once", "encode_every_copy", "distinct_images"]

_MARK = "_medix_each_image_once"


def distinct_images(pixel_values: Any, grid_thw: Any) -> tuple[list[int], list[int]]:
    """``(firsts, which)``: the index of the first copy of each distinct image, and for every image
    the position in ``firsts`` of its copy.

    ``pixel_values`` holds the patches of all images one after another (``grid_thw.prod(-1)``
    rows each), as Qwen2-VL's processor writes them.

    >>> import torch
    >>> a, b = torch.zeros(4, 3), torch.ones(4, 3)
    >>> distinct_images(torch.cat([a, b, a, b, b]), torch.tensor([[1, 2, 2]] * 5))
    ([0, 1], [0, 1, 0, 1, 1])
    """
    import torch

    sizes = grid_thw.prod(-1).tolist()
    blocks = torch.split(pixel_values, sizes)
    firsts: list[int] = []
    which: list[int] = []
    seen: dict[tuple[Any, ...], list[int]] = {}
    for index, block in enumerate(blocks):
        flat = block.detach().reshape(-1)
        # Fingerprint: grid, sum and a position-weighted sum; ties are settled by comparing pixels.
        weights = torch.arange(1, flat.numel() + 1, dtype=flat.dtype, device=flat.device)
        key = (tuple(grid_thw[index].tolist()), float(flat.sum()), float((flat * weights).sum()))
        match = next((slot for slot in seen.get(key, ()) if torch.equal(blocks[firsts[slot]], block)), None)
        if match is None:
            match = len(firsts)
            firsts.append(index)
            seen.setdefault(key, []).append(match)
        which.append(match)
    return firsts, which


def _features_once(self: Any, pixel_values: Any, image_grid_thw: Any = None, **kwargs: Any) -> Any:
    import torch

    original = type(self).get_image_features
    if image_grid_thw is None or pixel_values is None:
        return original(self, pixel_values, image_grid_thw, **kwargs)
    firsts, which = distinct_images(pixel_values, image_grid_thw)
    if len(firsts) == len(which):
        return original(self, pixel_values, image_grid_thw, **kwargs)
    sizes = image_grid_thw.prod(-1).tolist()
    blocks = torch.split(pixel_values, sizes)
    outputs = original(self, torch.cat([blocks[i] for i in firsts]), image_grid_thw[firsts], **kwargs)
    pooled = outputs.pooler_output
    outputs.pooler_output = tuple(pooled[slot] for slot in which)
    hidden = getattr(outputs, "last_hidden_state", None)
    if hidden is not None:
        per_image = torch.split(hidden, [sizes[i] for i in firsts])
        outputs.last_hidden_state = torch.cat([per_image[slot] for slot in which])
    return outputs


def _vision_model(model: Any) -> Any | None:
    for module in model.modules():
        if hasattr(module, "visual") and callable(getattr(type(module), "get_image_features", None)):
            return module
    return None


def encode_each_image_once(model: Any) -> bool:
    """Make ``model`` (or the Qwen2-VL style module inside it) encode each distinct image of a batch
    once; returns whether it found such a module. Applying it twice changes nothing.

    The patch is an instance method, so it follows the module through ``copy.deepcopy`` (a KL
    reference copy) and never reaches ``save_pretrained``'s files.
    """
    inner = _vision_model(model)
    if inner is None:
        return False
    if not getattr(inner, _MARK, False):
        inner.get_image_features = types.MethodType(_features_once, inner)
        setattr(inner, _MARK, True)
    return True


def encode_every_copy(model: Any) -> None:
    """Undo :func:`encode_each_image_once` (the benchmark's reference point)."""
    inner = _vision_model(model)
    if inner is not None and getattr(inner, _MARK, False):
        del inner.get_image_features
        delattr(inner, _MARK)
