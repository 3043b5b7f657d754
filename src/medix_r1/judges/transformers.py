"""The judge's in-process backend: :class:`medix_r1.chat.transformers.TransformersClient` in the judge role."""

from __future__ import annotations

from typing import Any

from medix_r1.chat.errors import JUDGE
from medix_r1.chat.transformers import TransformersClient

__all__ = ["TransformersChatBackend"]


class TransformersChatBackend(TransformersClient):
    """A :class:`~medix_r1.chat.transformers.TransformersClient` whose role defaults to ``"judge"``."""

    def __init__(self, model: Any, tokenizer: Any = None, *, role: str = JUDGE, **options: Any) -> None:
        super().__init__(model, tokenizer, role=role, **options)
