"""The judge's OpenAI-compatible client: :class:`medix_r1.chat.openai.OpenAIClient` in the judge role.

Kept under the name judges have always used (``OpenAIChatClient``); its failures are
:class:`~medix_r1.judges.errors.JudgeUnavailableError` and :class:`~medix_r1.judges.errors.JudgeConfigError`.
"""

from __future__ import annotations

from typing import Any

from medix_r1.chat.errors import JUDGE
from medix_r1.chat.openai import RETRYABLE_STATUS, TOKEN_LIMIT_PARAMS, OpenAIClient

__all__ = ["OpenAIChatClient", "RETRYABLE_STATUS", "TOKEN_LIMIT_PARAMS"]


class OpenAIChatClient(OpenAIClient):
    """An :class:`~medix_r1.chat.openai.OpenAIClient` whose role defaults to ``"judge"``."""

    def __init__(self, base_url: str, model: str, *, role: str = JUDGE, **options: Any) -> None:
        super().__init__(base_url, model, role=role, **options)
