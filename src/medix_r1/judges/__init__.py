"""Judges: one chat-backend protocol, three backends (``openai``, ``transformers``, ``fake``), and the
answer-match judge the reward uses. Build one by name with :func:`make_chat_backend`."""

from __future__ import annotations

import difflib
from typing import Any

from medix_r1.judges.answer_match import AnswerMatchJudge, ChatBackend, MatchVerdict
from medix_r1.judges.cache import VerdictCache
from medix_r1.judges.deadline import DEFAULT_JUDGE_DEADLINE_S, Deadline
from medix_r1.judges.errors import (
    JudgeConfigError,
    JudgeDeadlineError,
    JudgeError,
    JudgeUnavailableError,
)
from medix_r1.judges.fake import FakeChatBackend
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

JUDGE_BACKENDS: dict[str, type] = {
    "openai": OpenAIChatClient,
    "transformers": TransformersChatBackend,
    "fake": FakeChatBackend,
}


def make_chat_backend(name: str, **options: Any) -> ChatBackend:
    """Build a registered backend: ``openai`` (base_url, model, ...), ``transformers`` (model, ...),
    ``fake`` (responder=None).

    >>> make_chat_backend("fake").identity
    'fake'
    """
    try:
        cls = JUDGE_BACKENDS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(JUDGE_BACKENDS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown judge backend {name!r}.{hint} Valid: {', '.join(JUDGE_BACKENDS)}"
        ) from None
    return cls(**options)
