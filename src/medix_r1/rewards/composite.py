"""The composite reward: every component of a batch at once, weighted into ``overall``.

The judge's requests and the embedder's encoding run concurrently (the encoder in a worker thread),
so a step costs about the larger of the two rather than their sum.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from medix_r1.parsing import ResponseFormat
from medix_r1.rewards.inputs import Rollout, prepare_rollouts

__all__ = ["CompositeReward", "RewardComponent", "COMPONENT_NAMES"]

#: Output keys, in the published order of the EasyR1 reward dict (after ``overall``).
COMPONENT_NAMES = ("format", "accuracy_llm", "accuracy_embed", "modality")


@dataclass(frozen=True)
class RewardComponent:
    """A named reward and its weight in ``overall``."""

    name: str
    reward: Any
    weight: float


@dataclass
class CompositeReward:
    """Scores rollouts with each component and combines them.

    ``overall`` is the weighted sum in component order; it is ``None`` when a weighted component
    is unscored (a skipped judge failure), unless ``renormalize_missing`` is set, in which case the
    remaining weights are scaled up to their original total.
    """

    components: list[RewardComponent]
    fmt: ResponseFormat
    preset: str = "custom"
    renormalize_missing: bool = False

    @property
    def weights(self) -> dict[str, float]:
        return {c.name: c.weight for c in self.components}

    def component(self, name: str) -> Any:
        for c in self.components:
            if c.name == name:
                return c.reward
        raise KeyError(f"no component {name!r}; have {[c.name for c in self.components]}")

    def prepare(
        self,
        responses: Sequence[Any],
        solutions: Sequence[str | None],
        modalities: Sequence[str | None] | None = None,
    ) -> list[Rollout]:
        return prepare_rollouts(responses, solutions, modalities, self.fmt)

    async def ascore_rollouts(self, rollouts: Sequence[Rollout]) -> list[dict[str, float | None]]:
        async def run(component: RewardComponent) -> list[Any]:
            scorer = getattr(component.reward, "ascore_rollouts", None)
            if scorer is not None:
                return await scorer(rollouts)
            return component.reward.score_rollouts(rollouts)

        results = await asyncio.gather(*(run(c) for c in self.components))
        rows: list[dict[str, float | None]] = []
        for i in range(len(rollouts)):
            row: dict[str, float | None] = {"overall": None}
            for component, values in zip(self.components, results, strict=True):
                row[component.name] = values[i]
            row["overall"] = self.combine(row)
            rows.append(row)
        return rows

    def combine(self, row: dict[str, float | None], *, renormalize: bool | None = None) -> float | None:
        """The weighted sum of a row's components. With an unscored (``None``) weighted component
        it is ``None``, or, when renormalising (default: ``renormalize_missing``), the sum over the
        scored components scaled up to the full weight."""
        if renormalize is None:
            renormalize = self.renormalize_missing
        total = 0.0
        missing = 0.0
        for c in self.components:
            value = row[c.name]
            if value is None:
                if c.weight:
                    missing += c.weight
                continue
            total += c.weight * value
        if not missing:
            return total
        if not renormalize:
            return None
        full = sum(c.weight for c in self.components)
        kept = full - missing
        return total * full / kept if kept > 0 else None

    async def ascore(
        self,
        responses: Sequence[Any],
        solutions: Sequence[str | None],
        modalities: Sequence[str | None] | None = None,
    ) -> list[dict[str, float | None]]:
        """Score a batch: one dict per rollout with ``overall`` and every component."""
        return await self.ascore_rollouts(self.prepare(responses, solutions, modalities))

    def score(
        self,
        responses: Sequence[Any],
        solutions: Sequence[str | None],
        modalities: Sequence[str | None] | None = None,
    ) -> list[dict[str, float | None]]:
        """Synchronous :meth:`ascore` (runs on the shared background event loop)."""
        from medix_r1.asyncio_bridge import run_sync

        return run_sync(self.ascore(responses, solutions, modalities))
