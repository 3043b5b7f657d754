"""The ``fake`` judge: deterministic, offline, for tests and demos. It is not a real judge.

It reads the two quoted answers out of our answer-match prompt and says YES when they share the
same content words (lower-cased, punctuation and a few filler words dropped), or when every content
word of the reference appears in the candidate. A loopback server uses the same function. The
client around it is the registry's ``fake`` backend (:class:`medix_r1.chat.fake.FakeClient`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from medix_r1.chat.errors import JUDGE
from medix_r1.chat.fake import FakeClient

__all__ = ["FakeChatBackend", "fake_chat_reply", "fake_answers_match"]

_FILLER = frozenset(
    {"a", "an", "the", "of", "is", "are", "in", "on", "this", "there", "it", "shows", "image"}
)
_BLOCK = re.compile(r"<(reference|candidate)>\n?(.*?)\n?</\1>", re.DOTALL)


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.casefold()) if w not in _FILLER}


def fake_answers_match(candidate: str, reference: str) -> bool:
    """The fake judge's rule.

    >>> fake_answers_match("The left lung", "left lung"), fake_answers_match("right lung", "left lung")
    (True, False)
    """
    ref, cand = _content_words(reference), _content_words(candidate)
    return bool(ref) and (cand == ref or ref <= cand)


def fake_chat_reply(messages: list[dict[str, Any]]) -> str:
    """Reply to an answer-match prompt with YES or NO; anything else is refused loudly."""
    text = messages[-1]["content"] if messages else ""
    if not isinstance(text, str):
        text = " ".join(part.get("text", "") for part in text if isinstance(part, dict))
    blocks = dict((name, body) for name, body in _BLOCK.findall(text))
    if "candidate" not in blocks or "reference" not in blocks:
        raise ValueError("the fake judge only understands medix-r1 answer-match prompts")
    return "YES" if fake_answers_match(blocks["candidate"], blocks["reference"]) else "NO"


class FakeChatBackend(FakeClient):
    """The ``fake`` client in the judge role, answering with :func:`fake_chat_reply` by default."""

    def __init__(
        self, responder: Callable[[list[dict[str, Any]]], str] | None = None, *, role: str = JUDGE
    ) -> None:
        super().__init__(responder or fake_chat_reply, role=role)
