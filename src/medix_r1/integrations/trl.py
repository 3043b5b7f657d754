"""TRL adapter: the composite reward as ``GRPOTrainer(reward_funcs=..., args=GRPOConfig(reward_weights=...))``.

Each component is its own reward function, so TRL logs ``rewards/<name>/mean`` for every part and
applies the weights itself. The judge and embedding components are async, so TRL's event loop runs
them concurrently. Judge counters are reported through TRL's ``log_metric`` hook as ``judge/...``.

Unscored judge calls (``on_judge_error="skip"``) come back as ``None`` (NaN in TRL's reward
matrix). The overall reward follows the one policy of :meth:`CompositeReward.combine`: an unscored
component adds nothing and nothing is re-weighted. TRL's own advantage sum (``nansum`` of the
weighted columns, ``multi_objective_aggregation="sum_then_normalize"``) is that same number, and our
trainer's overall reward (DAPO filtering, logs) is computed by :func:`combine_rewards`, which calls
``combine`` itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from medix_r1.rewards.composite import CompositeReward
from medix_r1.rewards.inputs import prepare_rollouts

__all__ = ["trl_reward_funcs", "TrlComponentReward", "combine_rewards"]


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


def combine_rewards(composite: CompositeReward, rewards_per_func: Any, names: Sequence[str]) -> Any:
    """The overall reward of each row of TRL's ``rewards_per_func`` matrix (columns named by
    ``names``, NaN where unscored), through :meth:`CompositeReward.combine`; a CPU float tensor.
    A row in which nothing was scored is NaN, as TRL marks it (its advantage is then 0)."""
    import torch

    values = rewards_per_func.detach().cpu().tolist()
    out = []
    for row in values:
        named = dict(zip(names, row, strict=True))
        if all(v != v for v in row):
            out.append(float("nan"))
        else:
            out.append(composite.combine({c.name: named.get(c.name) for c in composite.components}))
    return torch.tensor(out, dtype=torch.float32)
