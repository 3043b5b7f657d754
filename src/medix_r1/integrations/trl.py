"""TRL adapter: the composite reward as ``GRPOTrainer(reward_funcs=..., args=GRPOConfig(reward_weights=...))``.

Each component is its own reward function, so TRL logs ``rewards/<name>/mean`` for every part and
applies the weights itself. The judge and embedding components are async, so TRL's event loop runs
them concurrently. Judge counters are reported through TRL's ``log_metric`` hook as ``judge/...``.

Unscored judge calls (``on_judge_error="skip"``) come back as ``None``; TRL then leaves that
component out of the rollout's weighted sum (it sums with ``nansum``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from medix_r1.rewards.composite import CompositeReward
from medix_r1.rewards.inputs import prepare_rollouts

__all__ = ["trl_reward_funcs", "TrlComponentReward"]


class TrlComponentReward:
    """One component of a composite reward in TRL's reward-function signature (picklable class)."""

    def __init__(self, composite: CompositeReward, name: str) -> None:
        self.composite = composite
        self.name = name
        self.__name__ = name
        self.reward = composite.component(name)
        self._last_judge: dict[str, float] = {}

    async def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] = (),
        solution: Sequence[str] | None = None,
        modality: Sequence[str | None] | None = None,
        log_metric: Any = None,
        **_: Any,
    ) -> list[float | None]:
        rollouts = prepare_rollouts(completions, solution, modality, self.composite.fmt)  # type: ignore[arg-type]
        scorer = getattr(self.reward, "ascore_rollouts", None)
        if scorer is not None:
            values = await scorer(rollouts)
        else:
            values = await asyncio.to_thread(self.reward.score_rollouts, rollouts)
        judge = getattr(self.reward, "judge", None)
        if judge is not None and log_metric is not None:
            current = judge.stats.as_dict()
            for key in ("requests", "retries", "failures", "unparseable", "cache_hits"):
                log_metric(f"judge/{key}", float(current[key] - self._last_judge.get(key, 0)))
            log_metric("judge/unscored", float(sum(v is None for v in values)))
            self._last_judge = current
        return list(values)


def trl_reward_funcs(composite: CompositeReward) -> tuple[list[TrlComponentReward], list[float]]:
    """``(reward_funcs, reward_weights)`` for ``GRPOTrainer`` / ``GRPOConfig``."""
    funcs = [TrlComponentReward(composite, c.name) for c in composite.components]
    return funcs, [c.weight for c in composite.components]
