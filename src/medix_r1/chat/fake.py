"""The ``fake`` chat backend: deterministic, offline, registered like the others. It runs no model.

It answers with a Python function of the messages. Each role brings its own rule: the judges'
(:func:`medix_r1.judges.fake.fake_chat_reply`, YES/NO on our answer-match prompt), the evaluation's
fake judge (:func:`medix_r1.evaluation.judging.fake_judge_reply`); without one it says it is fake.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from medix_r1.chat.base import check_role
from medix_r1.chat.stats import ChatStats

__all__ = ["FakeClient", "canned_reply"]


def canned_reply(messages: list[dict[str, Any]]) -> str:
    """A reply that says it is fake and depends only on the last message.

    >>> canned_reply([{"role": "user", "content": "Hi"}])
    'FAKE BACKEND: no model was run (message digest 3639ef).'
    """
    text = messages[-1]["content"] if messages else ""
    if not isinstance(text, str):
        text = " ".join(part.get("text", "") for part in text if isinstance(part, dict))
    return f"FAKE BACKEND: no model was run (message digest {hashlib.sha256(text.encode()).hexdigest()[:6]})."


class FakeClient:
    """A chat client that answers with ``responder(messages)`` (default: :func:`canned_reply`)."""

    backend = "fake"
    backend_name = backend  # deprecated name of ``backend``
    model = None

    def __init__(self, responder: Callable[[list[dict[str, Any]]], str] | None = None, *, role: str) -> None:
        self.role = check_role(role)
        self.responder = responder or canned_reply
        self.stats = ChatStats()

    @property
    def endpoint(self) -> str:
        """``fake://<role>``: no server."""
        return "fake://" + self.role.replace(" ", "-")

    identity = "fake"

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        max_new_tokens: int,
        **_: Any,
    ) -> str:
        self.stats.requests += 1
        return self.responder(messages)
