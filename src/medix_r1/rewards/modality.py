"""Modality reward (reference 3.9): the text before the reasoning tag must be the solution's tag."""

from __future__ import annotations

from collections.abc import Sequence

from medix_r1.parsing import THINKING, ResponseFormat, predicted_modality
from medix_r1.rewards.inputs import Rollout, RolloutReward

__all__ = ["ModalityReward"]


class ModalityReward(RolloutReward):
    """1.0 when the stripped text before the first reasoning tag equals the solution's tag
    (case-insensitive); 0.0 otherwise, including when there is no reasoning tag.

    >>> ModalityReward()(["<x_ray> <thinking>a</thinking>", "<CT_SCAN><answer>b</answer>"],
    ...                  solution=["<X_RAY> b", "<CT_SCAN> b"])
    [1.0, 0.0]
    """

    __name__ = "modality"

    def __init__(self, fmt: ResponseFormat = THINKING) -> None:
        self.fmt = fmt

    def score_rollouts(self, rollouts: Sequence[Rollout]) -> list[float]:
        scores = []
        for r in rollouts:
            predicted = predicted_modality(r.normalized, self.fmt)
            match = predicted is not None and predicted.upper() == r.reference_modality.upper()
            scores.append(1.0 if match else 0.0)
        return scores
