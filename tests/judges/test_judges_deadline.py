"""The judge deadline (issue 13): a judge that never answers stops a reward batch after
``judge_deadline_s``, not after timeout x attempts (308 s measured) or never (the published file)."""

from __future__ import annotations

import asyncio
import pickle
import time

import pytest

from medix_r1.judges import AnswerMatchJudge, JudgeDeadlineError, JudgeUnavailableError, OpenAIChatClient
from medix_r1.rewards.config import RewardConfig, build_reward_from_config
from medix_r1.testing.loopback import FaultPlan, LoopbackChatServer

GOOD = "<X_RAY><thinking>film</thinking><answer>{}</answer>"
SOL = "<X_RAY> Left lung."


@pytest.fixture
def silent_judge():
    """Accepts every connection and request, and never answers (an hour-long hang)."""
    with LoopbackChatServer(faults=FaultPlan(rate=1.0, kinds=("hang",), hang_s=3600)) as server:
        yield server


def slow_client(url: str) -> OpenAIChatClient:
    # The published per-request limits: 60 s timeout, 4 retries -> 5 x 60 s without a deadline.
    return OpenAIChatClient(url, "judge", timeout_s=60.0, max_retries=4, api_key_env=None)


def test_deadline_raises_after_the_bound(silent_judge) -> None:
    judge = AnswerMatchJudge(slow_client(silent_judge.base_url), deadline_s=0.5)
    pairs = [(f"finding {i}", "left lung") for i in range(20)]
    started = time.monotonic()
    with pytest.raises(JudgeDeadlineError) as info:
        asyncio.run(judge.amatch(pairs))
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 5, elapsed  # the deadline, not 60 s x 5 attempts
    error = info.value
    assert isinstance(error, JudgeUnavailableError)  # every outage handler catches it
    assert (error.unanswered, error.total, error.deadline_s) == (20, 20, 0.5)
    assert str(error).startswith(
        f"judge at {silent_judge.base_url}/chat/completions left 20 of 20 request(s) of this reward "
        "batch unanswered after the judge deadline of 0.5 s."
    )
    assert silent_judge.requests == 20
    assert judge.stats.failures == 20
    # Crosses processes intact (Ray reward workers).
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is JudgeDeadlineError and str(copy) == str(error)
    assert (copy.endpoint, copy.unanswered, copy.total) == (error.endpoint, 20, 20)


def test_deadline_with_skip_leaves_rollouts_unscored(silent_judge) -> None:
    judge = AnswerMatchJudge(slow_client(silent_judge.base_url), deadline_s=0.3)
    verdicts = asyncio.run(judge.amatch([("a b", "c d"), ("e f", "g h")], fail_fast=False))
    assert [v.match for v in verdicts] == [None, None]
    assert {v.reason for v in verdicts} == {"no verdict within the judge deadline of 0.3 s"}


def test_answers_before_the_deadline_are_kept() -> None:
    # Half the requests hang, half are answered: under skip the answered half keeps its verdicts.
    class HalfSilent(LoopbackChatServer):
        async def _respond(self, method, path, raw):
            if b"hang" in raw:
                await asyncio.sleep(3600)
            return await super()._respond(method, path, raw)

    with HalfSilent() as server:
        judge = AnswerMatchJudge(slow_client(server.base_url), deadline_s=0.5)
        pairs = [("left lung", "the left lung"), ("hang here", "left lung"), ("femur", "left lung")]
        verdicts = asyncio.run(judge.amatch(pairs, fail_fast=False))
    assert [v.match for v in verdicts] == [True, None, False]


def test_reward_config_deadline_reaches_the_reward(silent_judge) -> None:
    # The one setting, as every engine builds the reward: RewardConfig.judge_deadline_s.
    assert RewardConfig(judge="fake").judge_deadline_s == 120.0
    with pytest.raises(ValueError, match="judge_deadline_s"):
        RewardConfig(judge="fake", judge_deadline_s=0)
    options = {
        "judge_url": silent_judge.base_url,
        "embedding_model": "hashing",
        "judge_deadline_s": 0.5,
    }
    responses = [GOOD.format(f"the left lung, view {i}") for i in range(8)]
    raising = build_reward_from_config(RewardConfig(**options))
    started = time.monotonic()
    with pytest.raises(JudgeDeadlineError, match="judge deadline of 0.5 s"):
        raising.score(responses, [SOL] * 8)
    assert time.monotonic() - started < 5
    skipping = build_reward_from_config(RewardConfig(**options, on_judge_error="skip"))
    rows = skipping.score(responses, [SOL] * 8)
    assert all(row["accuracy_llm"] is None for row in rows)
    # the one unscored policy (README): the skipped judge adds nothing, the rest is not re-scaled
    assert [row["overall"] for row in rows] == [skipping.combine(row) for row in rows]
    assert all(row["overall"] < 1.0 for row in rows)
    assert all(row["format"] == 1.0 and row["modality"] == 1.0 for row in rows)
    assert skipping.component("accuracy_llm").unscored == 8
