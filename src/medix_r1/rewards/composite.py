"""The composite reward: every component of a batch at once, weighted into ``overall``.

The judge's requests and the embedder's encoding run concurrently (the encoder in a worker thread),
so a step costs about the larger of the two rather than their sum.

One policy for an unscored component (issue 12; the same for TRL, verl, EasyR1 and the CLI, all of
which combine through :meth:`CompositeReward.combine`): a component that could not be scored (a
skipped judge failure, ``None``) adds nothing to ``overall``, and the weights are *not* re-scaled
over the scored components. ``overall`` is then the lowest score the rollout could have had with the
judge up, which is exactly what a wrong answer gets: a judge outage can never make a wrong answer
score higher than it would with the judge up (re-weighting did: 0.145 -> 0.30 with the published
weights), and a right answer can only lose the judge's share. The component itself stays ``None``
(NaN for engines) and the row is counted as unscored, so the outage is reported, not hidden.
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

    ``overall`` is the weighted sum in component order over the scored components (see the module
    docstring for the unscored-component policy: nothing is re-weighted over the scored components,
    which would let an outage raise a wrong answer's score).
    """

    components: list[RewardComponent]
    fmt: ResponseFormat
    preset: str = "custom"

    @property
    def weights(self) -> dict[str, float]:
        return {c.name: c.weight for c in self.components}

    @property
    def judge_prompt_hash(self) -> str | None:
        """The hash of the prompt template the judge is asked with (12 hex digits), or None when no
        component asks a judge. Written as ``judge_prompt_hash``, the key evaluation rows use, into
        ``medix-r1 reward score``'s rows and a training run's ``summary.json``."""
        for c in self.components:
            judge = getattr(c.reward, "judge", None)
            template_hash = getattr(judge, "template_hash", None)
            if template_hash:
                return str(template_hash)
        return None

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

    def combine(self, row: dict[str, float | None]) -> float:
        """The weighted sum of a row's scored components; an unscored (``None`` or NaN) component
        adds nothing and the other weights are not re-scaled (the module docstring says why).

        >>> from medix_r1.parsing import THINKING
        >>> c = CompositeReward([RewardComponent("accuracy_llm", None, 0.5),
        ...                      RewardComponent("format", None, 0.1)], THINKING)
        >>> c.combine({"accuracy_llm": 1.0, "format": 1.0}), c.combine({"accuracy_llm": None, "format": 1.0})
        (0.6, 0.1)
        """
        total = 0.0
        for c in self.components:
            value = row[c.name]
            if value is None or value != value:  # unscored: None here, NaN from an engine
                continue
            total += c.weight * value
        return total

    def unscored(self, row: dict[str, float | None]) -> list[str]:
        """The weighted components of ``row`` that could not be scored."""
        return [
            c.name
            for c in self.components
            if c.weight and (row[c.name] is None or row[c.name] != row[c.name])
        ]

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
