"""LLM-judge accuracy reward (reference 3.6): 1 when the judge says the answers match.

Only the predicted and reference answers are shown to the judge. Invalid answers score 0 and exact
matches 1 without a request. When the judge cannot answer (retries spent, or the batch's judge
deadline passed: ``AnswerMatchJudge.deadline_s``, ``RewardConfig.judge_deadline_s``), the policy
decides: ``raise`` (default) stops with an error naming the judge URL; ``skip`` returns ``None`` for
that rollout (unscored, counted in :attr:`unscored`). A failure is never scored 0.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

from medix_r1.judges.answer_match import AnswerMatchJudge
from medix_r1.parsing import THINKING, ResponseFormat
from medix_r1.rewards.inputs import Rollout, prepare_rollouts

__all__ = ["JudgeAccuracyReward", "ON_JUDGE_ERROR"]

log = logging.getLogger(__name__)

ON_JUDGE_ERROR = ("raise", "skip")


class JudgeAccuracyReward:
    """Async reward: ``await reward(completions, solution=[...])`` -> list of 1.0 / 0.0 / None."""

    __name__ = "accuracy_llm"

    def __init__(
        self,
        judge: AnswerMatchJudge,
        *,
        on_error: Literal["raise", "skip"] = "raise",
        fmt: ResponseFormat = THINKING,
    ) -> None:
        if on_error not in ON_JUDGE_ERROR:
            raise ValueError(f"on_error must be one of {ON_JUDGE_ERROR}, got {on_error!r}")
        self.judge = judge
        self.on_error = on_error
        self.fmt = fmt
        self.unscored = 0

    async def ascore_rollouts(self, rollouts: Sequence[Rollout]) -> list[float | None]:
        scores: list[float | None] = [r.shortcut for r in rollouts]
        todo = [i for i, r in enumerate(rollouts) if r.shortcut is None]
        pairs = [(rollouts[i].answer, rollouts[i].reference or "") for i in todo]
        verdicts = await self.judge.amatch(pairs, fail_fast=self.on_error == "raise")
        failed = 0
        reason = None
        for i, verdict in zip(todo, verdicts, strict=True):
            if verdict.match is None:
                failed += 1
                reason = verdict.reason
                scores[i] = None
            else:
                scores[i] = 1.0 if verdict.match else 0.0
        if failed:
            self.unscored += failed
            log.warning(
                "judge at %s could not score %d of %d rollouts (left unscored): %s",
                self.judge.endpoint,
                failed,
                len(rollouts),
                reason,
            )
        return scores

    async def __call__(
        self,
        completions: Sequence[Any],
        solution: Sequence[str] | None = None,
        modality: Sequence[str | None] | None = None,
        **_: Any,
    ) -> list[float | None]:
        return await self.ascore_rollouts(prepare_rollouts(completions, solution, modality, self.fmt))  # type: ignore[arg-type]
