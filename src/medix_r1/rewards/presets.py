"""Named reward presets: a tag variant, the components and their weights.

``medix-r1`` is exactly the published reward (reference section 3): ``<thinking>`` tags, binary
embedding similarity at 0.8, a YES/NO judge with 4 new tokens, and
overall = 0.9 * (0.575 llm + 0.375 embed + 0.05 modality) + 0.1 format. The arithmetic is done in the
same order as the published function so the floats agree bit for bit.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Literal

from medix_r1.embedders.base import Embedder
from medix_r1.judges.answer_match import AnswerMatchJudge
from medix_r1.parsing import THINK, THINKING, ResponseFormat
from medix_r1.rewards.composite import CompositeReward, RewardComponent
from medix_r1.rewards.embedding import EmbeddingSimilarityReward
from medix_r1.rewards.format import FormatReward
from medix_r1.rewards.judge import JudgeAccuracyReward
from medix_r1.rewards.modality import ModalityReward

__all__ = ["RewardPreset", "PRESETS", "get_preset", "build_reward"]

_FORMAT_WEIGHT = 0.1
_CONTENT_WEIGHT = 1 - _FORMAT_WEIGHT  # as published: the content rewards share 0.9


@dataclass(frozen=True)
class RewardPreset:
    name: str
    description: str
    fmt: ResponseFormat
    weights: tuple[tuple[str, float], ...]
    embed_threshold: float = 0.8
    embed_binary: bool = True
    #: How this preset departs from the published reward (None: it does not).
    differs: str | None = None


_PUBLISHED_WEIGHTS = (
    ("accuracy_llm", _CONTENT_WEIGHT * 0.575),
    ("accuracy_embed", _CONTENT_WEIGHT * 0.375),
    ("modality", _CONTENT_WEIGHT * 0.05),
    ("format", _FORMAT_WEIGHT),
)

PRESETS: dict[str, RewardPreset] = {
    p.name: p
    for p in (
        RewardPreset(
            "medix-r1",
            "The published MediX-R1 reward, exactly (released code: <thinking> tags).",
            THINKING,
            _PUBLISHED_WEIGHTS,
        ),
        RewardPreset(
            "medix-r1-think",
            "The published reward with <think> tags (as in the paper and website).",
            THINK,
            _PUBLISHED_WEIGHTS,
            differs="reasoning tag is <think> instead of <thinking>",
        ),
        RewardPreset(
            "medix-r1-soft",
            "Published weights, but the embedding reward is the cosine similarity clipped to [0, 1].",
            THINKING,
            _PUBLISHED_WEIGHTS,
            embed_binary=False,
            differs="continuous embedding similarity instead of a 0/1 threshold at 0.8: a denser signal",
        ),
        RewardPreset(
            "medix-r1-soft-think",
            "medix-r1-soft with <think> tags.",
            THINK,
            _PUBLISHED_WEIGHTS,
            embed_binary=False,
            differs="<think> tags; continuous embedding similarity",
        ),
    )
}


def get_preset(name: str) -> RewardPreset:
    try:
        return PRESETS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(PRESETS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown reward preset {name!r}.{hint} Valid: {', '.join(PRESETS)}") from None


def build_reward(
    preset: str = "medix-r1",
    *,
    judge: AnswerMatchJudge,
    embedder: Embedder,
    on_judge_error: Literal["raise", "skip"] = "raise",
    weights: dict[str, float] | None = None,
    **overrides: Any,
) -> CompositeReward:
    """A :class:`CompositeReward` for a preset, with the given judge and embedder.

    ``weights`` overrides the preset's weight of the components it names (the others keep theirs);
    ``overrides`` may set ``embed_threshold`` or ``embed_binary``.
    """
    spec = get_preset(preset)
    unknown = set(overrides) - {"embed_threshold", "embed_binary"}
    if unknown:
        raise TypeError(f"unknown reward override(s): {sorted(unknown)}")
    threshold = overrides.get("embed_threshold", spec.embed_threshold)
    binary = overrides.get("embed_binary", spec.embed_binary)
    rewards = {
        "accuracy_llm": JudgeAccuracyReward(judge, on_error=on_judge_error, fmt=spec.fmt),
        "accuracy_embed": EmbeddingSimilarityReward(
            embedder, threshold=threshold, binary=binary, fmt=spec.fmt
        ),
        "modality": ModalityReward(spec.fmt),
        "format": FormatReward(spec.fmt),
    }
    chosen = {**dict(spec.weights), **(weights or {})}
    unknown_weights = set(chosen) - set(rewards)
    if unknown_weights:
        raise ValueError(
            f"unknown reward component(s) in weights: {sorted(unknown_weights)}; valid: {sorted(rewards)}"
        )
    return CompositeReward(
        components=[RewardComponent(name, rewards[name], chosen[name]) for name, _ in spec.weights],
        fmt=spec.fmt,
        preset=spec.name if not weights else f"{spec.name}+weights",
    )
