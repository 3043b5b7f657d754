"""Format reward (reference 3.8): 1 when the response is ``...<think>..</think> <answer>..</answer>``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from medix_r1.parsing import THINKING, ResponseFormat, is_well_formed, normalize_tag_whitespace
from medix_r1.rewards.inputs import Rollout, completion_text

__all__ = ["FormatReward"]


class FormatReward:
    """1.0 if, from the first reasoning tag on, the normalised response is exactly a reasoning block
    and an answer block; else 0.0.

    >>> FormatReward()(["<X_RAY>< thinking >a</thinking>\\n<answer>b</answer>", "<answer>b</answer>"])
    [1.0, 0.0]
    """

    __name__ = "format"

    def __init__(self, fmt: ResponseFormat = THINKING) -> None:
        self.fmt = fmt

    def score_rollouts(self, rollouts: Sequence[Rollout]) -> list[float]:
        return [1.0 if is_well_formed(r.normalized, self.fmt) else 0.0 for r in rollouts]

    def __call__(self, completions: Sequence[Any], **_: Any) -> list[float]:
        return [
            1.0 if is_well_formed(normalize_tag_whitespace(completion_text(c)), self.fmt) else 0.0
            for c in completions
        ]
