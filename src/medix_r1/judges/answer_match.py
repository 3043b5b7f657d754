"""The reward's judge: does a predicted answer match the reference? (reference section 3.6)

Wraps any chat backend (``openai``, ``transformers``, ``fake``) with what a training step needs:
identical pairs in a batch are sent once, an optional persistent cache answers repeats across
steps, replies that are neither YES nor NO are asked again a bounded number of times, a batch waits
on the judge at most ``deadline_s`` in total (:mod:`medix_r1.judges.deadline`), and a pair the judge
could not answer is reported as such (``match=None`` with a reason) or raised, never 0.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from medix_r1.chat.base import ChatClient
from medix_r1.chat.messages import chat_messages
from medix_r1.judges.cache import VerdictCache, cache_key
from medix_r1.judges.deadline import DEFAULT_JUDGE_DEADLINE_S, Deadline
from medix_r1.judges.errors import JudgeDeadlineError, JudgeUnavailableError
from medix_r1.judges.prompts import (
    ANSWER_MATCH_TEMPLATE,
    parse_yes_no,
    render_answer_match,
    template_hash,
)

__all__ = ["ChatBackend", "AnswerMatchJudge", "MatchVerdict"]


#: What every judge backend offers: a chat client (:class:`medix_r1.chat.base.ChatClient`).
ChatBackend = ChatClient


@dataclass(frozen=True)
class MatchVerdict:
    """``match`` is True/False, or None when the judge could not answer (``reason`` says why)."""

    match: bool | None
    reason: str | None = None


class AnswerMatchJudge:
    """YES/NO answer matching over a chat backend, batch-first.

    Defaults follow the published judge call: temperature 0, at most 4 new tokens
    (``max_new_tokens``; ``max_tokens`` is its deprecated name). ``deadline_s``
    bounds the time one :meth:`amatch` call (one reward batch) waits on the backend; ``None``
    waits as long as the backend's own timeouts and retries allow.
    """

    def __init__(
        self,
        backend: ChatBackend,
        *,
        template: str = ANSWER_MATCH_TEMPLATE,
        max_new_tokens: int = 4,
        temperature: float = 0.0,
        reasks: int = 2,
        cache: VerdictCache | None = None,
        deadline_s: float | None = DEFAULT_JUDGE_DEADLINE_S,
        max_tokens: int | None = None,
    ) -> None:
        Deadline(deadline_s)  # checks the value up front
        if max_tokens is not None:
            warnings.warn(
                "AnswerMatchJudge(max_tokens=) is now max_new_tokens", DeprecationWarning, stacklevel=2
            )
            max_new_tokens = max_tokens
        self.backend = backend
        self.deadline_s = deadline_s
        self.template = template
        self.template_hash = template_hash(template)
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.reasks = reasks
        self.cache = cache
        self.stats = backend.stats  # one set of counters per judge: transport + verdict level

    @property
    def endpoint(self) -> str:
        """Which server (or in-process model) answers: the backend's endpoint."""
        return self.backend.endpoint

    @property
    def max_tokens(self) -> int:
        """Deprecated name of :attr:`max_new_tokens`."""
        return self.max_new_tokens

    def _key(self, pair: tuple[str, str]) -> str:
        return cache_key(self.backend.identity, self.template_hash, *pair)

    async def _ask(self, pair: tuple[str, str]) -> str:
        messages = chat_messages(render_answer_match(pair[0], pair[1], self.template))
        reply = ""
        for _ in range(self.reasks + 1):
            reply = await self.backend.complete(
                messages, max_new_tokens=self.max_new_tokens, temperature=self.temperature
            )
            if parse_yes_no(reply) is not None:
                return reply
            self.stats.unparseable += 1
        self.stats.failures += 1
        raise JudgeUnavailableError(
            self.backend.endpoint, self.reasks + 1, f"no YES/NO in the reply (last: {reply[:60]!r})"
        )

    async def amatch(self, pairs: Sequence[tuple[str, str]], *, fail_fast: bool = True) -> list[MatchVerdict]:
        """Judge (candidate, reference) pairs. With ``fail_fast`` the first pair that cannot be
        judged cancels the rest and raises :class:`JudgeUnavailableError` (verdicts already
        obtained are still cached); otherwise it becomes ``MatchVerdict(None, reason)``.

        When the judge deadline passes, requests still waiting are cancelled: with ``fail_fast``
        :class:`JudgeDeadlineError` is raised, otherwise their pairs get ``MatchVerdict(None,
        "no verdict within the judge deadline of ... s")``."""
        deadline = Deadline(self.deadline_s)
        unique = list(dict.fromkeys(pairs))
        self.stats.deduplicated += len(pairs) - len(unique)
        replies: dict[tuple[str, str], str] = {}
        keys: dict[tuple[str, str], str] = {}
        if self.cache is not None:
            keys = {pair: self._key(pair) for pair in unique}
            hits = self.cache.get_many(list(keys.values()))
            for pair, key in keys.items():
                if key in hits and parse_yes_no(hits[key]) is not None:
                    replies[pair] = hits[key]
            self.stats.cache_hits += len(replies)
        todo = [pair for pair in unique if pair not in replies]
        failed: dict[tuple[str, str], str] = {}
        tasks = {asyncio.ensure_future(self._ask(pair)): pair for pair in todo}
        try:
            pending = set(tasks)
            while pending:
                done, pending = await asyncio.wait(
                    pending, timeout=deadline.remaining(), return_when=asyncio.FIRST_EXCEPTION
                )
                for task in done:
                    pair = tasks[task]
                    error = task.exception()
                    if error is None:
                        replies[pair] = task.result()
                    elif isinstance(error, JudgeUnavailableError) and not fail_fast:
                        failed[pair] = error.reason
                    else:
                        raise error
                if pending and deadline.expired():
                    self.stats.failures += len(pending)
                    if fail_fast:
                        raise JudgeDeadlineError(self.endpoint, self.deadline_s, len(pending), len(todo))
                    reason = f"no verdict within the judge deadline of {self.deadline_s:g} s"
                    failed.update((tasks[task], reason) for task in pending)
                    pending = set()
        finally:
            for task in tasks:
                task.cancel()
            if self.cache is not None:
                self.cache.put_many({keys[p]: r for p, r in replies.items() if p in todo})
        verdicts = {pair: MatchVerdict(parse_yes_no(reply)) for pair, reply in replies.items()}
        verdicts.update({pair: MatchVerdict(None, reason) for pair, reason in failed.items()})
        return [verdicts[pair] for pair in pairs]
