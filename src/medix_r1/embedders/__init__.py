"""Embedders for the similarity reward: ``sentence-transformers`` (default) and ``hashing`` (tests)."""

from __future__ import annotations

from typing import Any

from medix_r1.embedders.base import Embedder, EmbedderLoadError, EmbeddingCache
from medix_r1.embedders.hashing import HashingEmbedder
from medix_r1.embedders.sentence_transformers import (
    OFFLINE_DEFAULT,
    PUBLISHED_EMBEDDER,
    SentenceTransformerEmbedder,
)

__all__ = [
    "Embedder",
    "EmbedderLoadError",
    "EmbeddingCache",
    "HashingEmbedder",
    "SentenceTransformerEmbedder",
    "OFFLINE_DEFAULT",
    "PUBLISHED_EMBEDDER",
    "make_embedder",
]


def make_embedder(model: str = OFFLINE_DEFAULT, **options: Any) -> Embedder:
    """``"hashing"`` gives the test embedder; anything else (``"minilm"``, a hub id, a path) a
    sentence-transformers model.

    >>> make_embedder("hashing").identity
    'hashing'
    """
    if model == "hashing":
        return HashingEmbedder(**options)
    return SentenceTransformerEmbedder(model, **options)
