"""DAPO's dynamic filtering for TRL: drop groups that carry no learning signal and refill the batch.

A group whose responses all earn (nearly) the same reward has zero advantage everywhere, so it only
dilutes the batch. The published recipe (reference section 4) drops every group whose *mean overall
reward* is <= 0.01 or >= 0.99 and samples more prompts (128 at a time, at most 20 tries) until the
step's batch is full again. TRL's ``GRPOTrainer`` does not do this; :class:`DynamicFilter` does it
around TRL's own ``_generate_and_score_completions`` (see
:class:`medix_r1.training.trl_compat.MedixGRPOTrainer`), so GRPO itself is not re-implemented.

The pieces are plain functions over tensors and TRL's batch dicts, tested on their own:

>>> import torch
>>> keep_groups(torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0, 1.0]), group_size=2, low=0.01, high=0.99)
[1]
>>> group_means(torch.tensor([0.0, 1.0, 0.25, 0.75]), 2).tolist()
[0.5, 0.5]
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = [
    "group_means",
    "keep_groups",
    "select_rows",
    "concat_batches",
    "FilterStats",
    "DynamicFilter",
    "PromptRefill",
]

logger = logging.getLogger(__name__)

# Keys of TRL's scored batch, by how they are laid out (TRL 1.x `_generate_and_score_completions`).
_LEFT_PADDED = ("prompt_ids", "prompt_mask")
_RIGHT_PADDED = (
    "completion_ids",
    "completion_mask",
    "old_per_token_logps",
    "ref_per_token_logps",
    "sampling_per_token_logps",
    "importance_sampling_ratio",
    "tool_mask",
)
_PROMPT_AND_COMPLETION = ("token_type_ids", "mm_token_type_ids")
_PER_IMAGE = ("pixel_values", "image_grid_thw")
_ROWS = ("advantages",)
_LISTS = ("num_images",)
_SUPPORTED = set(_LEFT_PADDED + _RIGHT_PADDED + _PROMPT_AND_COMPLETION + _PER_IMAGE + _ROWS + _LISTS) | {
    "num_items_in_batch"
}


def group_means(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """Mean reward of each consecutive group of ``group_size`` (NaN rewards, i.e. unscored, ignored)."""
    if rewards.numel() % group_size:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}")
    return torch.nanmean(rewards.view(-1, group_size).float(), dim=1)


def keep_groups(rewards: torch.Tensor, group_size: int, low: float, high: float) -> list[int]:
    """Indices of the groups DAPO keeps: mean overall reward strictly between ``low`` and ``high``."""
    means = group_means(rewards, group_size)
    return [i for i, m in enumerate(means.tolist()) if low < m < high]


def _pad_cat(tensors: list[torch.Tensor], side: str, value: float | int) -> torch.Tensor:
    width = max(t.size(1) for t in tensors)
    out = []
    for t in tensors:
        missing = width - t.size(1)
        if missing:
            pad = t.new_full((t.size(0), missing, *t.shape[2:]), value)
            t = torch.cat([pad, t] if side == "left" else [t, pad], dim=1)
        out.append(t)
    return torch.cat(out, dim=0)


def _image_rows(batch: dict[str, Any]) -> list[tuple[int, int]] | None:
    """Per sample, the (start, end) rows of ``pixel_values`` (Qwen-VL layout: rows = t*h*w per image)."""
    if batch.get("pixel_values") is None:
        return None
    counts = batch.get("num_images")
    grid = batch.get("image_grid_thw")
    if counts is None or grid is None:
        raise NotImplementedError(
            "dynamic filtering supports Qwen-VL style batches (pixel_values + image_grid_thw + num_images); "
            "this model's processor returns another layout. Set algorithm.dynamic_filtering=false."
        )
    lengths = grid.prod(-1).tolist()
    spans, image, row = [], 0, 0
    for n in counts:
        size = sum(lengths[image : image + n])
        spans.append((row, row + size))
        image += n
        row += size
    return spans


def select_rows(batch: dict[str, Any], rows: Sequence[int]) -> dict[str, Any]:
    """The sub-batch of ``rows`` (completion indices) of a TRL scored batch."""
    unknown = {k for k, v in batch.items() if v is not None} - _SUPPORTED
    if unknown:
        raise NotImplementedError(
            f"dynamic filtering does not know how to select rows of {sorted(unknown)}; "
            "set algorithm.dynamic_filtering=false for this model"
        )
    index = torch.tensor(list(rows), dtype=torch.long)
    out: dict[str, Any] = {}
    spans = _image_rows(batch)
    for key, value in batch.items():
        if value is None or key == "num_items_in_batch":
            continue
        if key in _LISTS:
            out[key] = [value[i] for i in rows]
        elif key == "pixel_values":
            assert spans is not None
            out[key] = torch.cat([value[spans[i][0] : spans[i][1]] for i in rows], dim=0)
        elif key == "image_grid_thw":
            starts = [0]
            for n in batch["num_images"]:
                starts.append(starts[-1] + n)
            out[key] = torch.cat([value[starts[i] : starts[i + 1]] for i in rows], dim=0)
        else:
            out[key] = value.index_select(0, index.to(value.device))
    out["_prompt_width"] = batch["prompt_ids"].size(1)
    return out


def concat_batches(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Join sub-batches from :func:`select_rows` (different padded widths) into one TRL batch."""
    parts = [p for p in parts if p["prompt_ids"].size(0)]
    if not parts:
        raise ValueError("no rows to concatenate")
    out: dict[str, Any] = {}
    keys = [k for k in parts[0] if k != "_prompt_width"]
    for key in keys:
        values = [p[key] for p in parts]
        if key in _LISTS:
            out[key] = [x for v in values for x in v]
        elif key in _PER_IMAGE or key in _ROWS:
            out[key] = torch.cat(values, dim=0)
        elif key in _LEFT_PADDED:
            out[key] = _pad_cat(values, "left", 0)
        elif key in _RIGHT_PADDED:
            out[key] = _pad_cat(values, "right", 1 if key == "importance_sampling_ratio" else 0)
        elif key in _PROMPT_AND_COMPLETION:
            # [prompt part | completion part]: pad each part on its own side.
            width = max(p["_prompt_width"] for p in parts)
            prompts = _pad_cat(
                [v[:, : p["_prompt_width"]] for v, p in zip(values, parts, strict=True)], "left", 0
            )
            completions = _pad_cat(
                [v[:, p["_prompt_width"] :] for v, p in zip(values, parts, strict=True)], "right", 0
            )
            assert prompts.size(1) == width
            out[key] = torch.cat([prompts, completions], dim=1)
    # Padding may now exceed every row's content on the completion side; that is harmless (masked).
    return out


class PromptRefill:
    """An endless, seeded, shuffled stream of dataset rows for refilling filtered batches."""

    def __init__(self, dataset: Any, seed: int = 0) -> None:
        self.dataset = dataset
        self.rng = random.Random(seed)
        self._order: list[int] = []

    def take(self, n: int) -> list[dict[str, Any]]:
        rows = []
        for _ in range(n):
            if not self._order:
                self._order = list(range(len(self.dataset)))
                self.rng.shuffle(self._order)
            rows.append(dict(self.dataset[self._order.pop()]))
        return rows


@dataclass
class FilterStats:
    """What one step's filtering did (logged as ``dapo/...``)."""

    tries: int = 0
    groups_seen: int = 0
    groups_kept: int = 0
    groups_needed: int = 0
    short: bool = False
    means: list[float] = field(default_factory=list)

    def as_metrics(self) -> dict[str, float]:
        return {
            "dapo/tries": float(self.tries),
            "dapo/groups_seen": float(self.groups_seen),
            "dapo/kept_fraction": self.groups_kept / self.groups_seen if self.groups_seen else 0.0,
            "dapo/short_batch": float(self.short),
        }


class DynamicFilter:
    """Generate, score, drop flat groups, refill; returns a full batch of ``groups_needed`` groups.

    ``generate_and_score(inputs)`` is TRL's scoring of a list of rows (each prompt repeated
    ``group_size`` times, consecutively) and ``last_rewards()`` the weighted overall reward of the
    rows it just scored. After ``max_tries`` refills the batch is topped up with dropped groups
    (their advantages are zero, so they add no gradient) and the step is flagged ``short``.
    """

    def __init__(
        self,
        *,
        group_size: int,
        low: float,
        high: float,
        refill_prompts: int,
        max_tries: int,
        refill: PromptRefill,
    ) -> None:
        self.group_size = group_size
        self.low = low
        self.high = high
        self.refill_prompts = refill_prompts
        self.max_tries = max_tries
        self.refill = refill

    def _repeat(self, rows: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for row in rows:
            for _ in range(self.group_size):
                yield dict(row)

    def __call__(
        self,
        inputs: list[dict[str, Any]],
        generate_and_score: Callable[[list[dict[str, Any]]], dict[str, Any]],
        last_rewards: Callable[[], torch.Tensor],
    ) -> tuple[dict[str, Any], FilterStats]:
        g = self.group_size
        needed = len(inputs) // g
        stats = FilterStats(groups_needed=needed)
        kept: list[dict[str, Any]] = []
        dropped: list[dict[str, Any]] = []
        n_kept = 0
        batch_inputs = inputs
        while True:
            scored = generate_and_score(batch_inputs)
            rewards = last_rewards()
            keep = keep_groups(rewards, g, self.low, self.high)
            stats.means.extend(group_means(rewards, g).tolist())
            stats.groups_seen += rewards.numel() // g
            take = keep[: needed - n_kept]
            if take:
                kept.append(select_rows(scored, [i * g + j for i in take for j in range(g)]))
                n_kept += len(take)
            flat = [i for i in range(rewards.numel() // g) if i not in keep]
            if flat and len(dropped) * g < needed * g:
                dropped.append(select_rows(scored, [i * g + j for i in flat for j in range(g)]))
            if n_kept >= needed or stats.tries >= self.max_tries:
                break
            stats.tries += 1
            batch_inputs = list(self._repeat(self.refill.take(self.refill_prompts)))
        stats.groups_kept = n_kept
        if n_kept < needed:
            stats.short = True
            missing_rows = (needed - n_kept) * g
            pool = concat_batches(dropped)
            pad = select_rows(pool, list(range(missing_rows)))
            kept.append(pad)
            logger.warning(
                "dynamic filtering: only %d of %d groups had a learning signal after %d refill(s); "
                "the batch is topped up with %d zero-advantage groups",
                n_kept,
                needed,
                stats.tries,
                needed - n_kept,
            )
        return concat_batches(kept), stats
