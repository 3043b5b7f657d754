"""What every chat client offers, whichever backend runs the model.

A chat client sends a list of OpenAI-style messages (:mod:`medix_r1.chat.messages`) and returns
the reply text. It says which implementation it is (``backend``: ``openai``, ``transformers``,
``gguf``, ``fake``), which server or model it talks to (``endpoint``: a URL, or
``transformers://<model>``...), for whom (``role``: ``judge``, ``candidate``, ``demo model``), and
counts its requests (``stats``). ``max_new_tokens`` is the reply cap in every Python API; only the
OpenAI request body calls it ``max_tokens``.
"""

from __future__ import annotations

from typing import Any, Protocol

from medix_r1.chat.errors import ROLES
from medix_r1.chat.stats import ChatStats

__all__ = ["ChatClient", "check_role"]


class ChatClient(Protocol):
    """One async chat call, counters, and the names failures and caches use."""

    backend: str
    endpoint: str
    identity: str
    role: str
    stats: ChatStats

    async def complete(
        self, messages: list[dict[str, Any]], *, max_new_tokens: int, **params: Any
    ) -> str: ...


def check_role(role: str) -> str:
    """``role`` when it is one of :data:`~medix_r1.chat.errors.ROLES`, else a ``ValueError``.

    >>> check_role("candidate")
    'candidate'
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(map(repr, ROLES))}, got {role!r}")
    return role
