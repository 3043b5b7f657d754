"""Judges: the answer-match judge the reward uses, over any chat client of :mod:`medix_r1.chat`
(``openai``, ``transformers``, ``gguf``, ``fake``) in the judge role. Build one by name with
:func:`make_chat_backend`. Verdict parsing, prompts, cache, dedup, deadline and counters live here;
the clients, their registry and their errors live in :mod:`medix_r1.chat`."""

from __future__ import annotations

from typing import Any

from medix_r1.chat.errors import JUDGE
from medix_r1.chat.registry import CHAT_BACKENDS, check_backend, make_chat_client
from medix_r1.judges.answer_match import AnswerMatchJudge, ChatBackend, MatchVerdict
from medix_r1.judges.cache import VerdictCache
from medix_r1.judges.deadline import DEFAULT_JUDGE_DEADLINE_S, Deadline
from medix_r1.judges.errors import (
    JudgeConfigError,
    JudgeDeadlineError,
    JudgeError,
    JudgeUnavailableError,
)
from medix_r1.judges.fake import FakeChatBackend, fake_chat_reply
from medix_r1.judges.openai import OpenAIChatClient
from medix_r1.judges.stats import JudgeStats
from medix_r1.judges.transformers import TransformersChatBackend

__all__ = [
    "AnswerMatchJudge",
    "ChatBackend",
    "MatchVerdict",
    "VerdictCache",
    "JudgeError",
    "JudgeConfigError",
    "JudgeUnavailableError",
    "JudgeDeadlineError",
    "Deadline",
    "DEFAULT_JUDGE_DEADLINE_S",
    "JudgeStats",
    "FakeChatBackend",
    "OpenAIChatClient",
    "TransformersChatBackend",
    "JUDGE_BACKENDS",
    "make_chat_backend",
]

#: Deprecated name of :data:`medix_r1.chat.registry.CHAT_BACKENDS` (one registry for every role).
JUDGE_BACKENDS = CHAT_BACKENDS


def make_chat_backend(name: str, **options: Any) -> ChatBackend:
    """Build a registered chat client in the judge role: ``openai`` (base_url, model, ...),
    ``transformers`` (model, ...), ``gguf`` (model_path, ...), ``fake`` (responder: by default the
    fake judge's YES/NO rule).

    >>> make_chat_backend("fake").endpoint
    'fake://judge'
    """
    if check_backend(name, role=JUDGE) == "fake":
        options.setdefault("responder", fake_chat_reply)
    return make_chat_client(name, role=JUDGE, **options)
