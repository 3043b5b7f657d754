"""The embedder protocol and the bounded cache of reference embeddings."""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

import numpy as np

from medix_r1.errors import MedixError

__all__ = ["Embedder", "EmbedderLoadError", "EmbeddingCache"]


class EmbedderLoadError(MedixError, RuntimeError):
    """The embedding model could not be loaded (unknown hub id, missing path, no hub access)."""

    def __init__(self, model: str, reason: str) -> None:
        self.model = model
        self.reason = reason
        super().__init__(
            f"cannot load the embedding model {model!r}: {reason}. Give a sentence-transformers hub id (with "
            "hub access) or a local model folder, 'minilm' for the packaged offline MiniLM, or 'hashing' "
            "for the test embedder"
        )


class Embedder(Protocol):
    """Turns strings into unit-length vectors (rows of a float32 matrix)."""

    identity: str

    def encode(self, texts: list[str]) -> np.ndarray: ...


class EmbeddingCache:
    """An LRU map text -> unit vector, bounded by ``max_items`` (the embedding reward keeps one for
    reference answers, which repeat across a group of rollouts and across epochs, and a smaller one
    for predicted answers)."""

    def __init__(self, max_items: int = 50_000) -> None:
        self.max_items = max_items
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, text: str) -> np.ndarray | None:
        vector = self._items.get(text)
        if vector is None:
            self.misses += 1
            return None
        self._items.move_to_end(text)
        self.hits += 1
        return vector

    def put(self, text: str, vector: np.ndarray) -> None:
        self._items[text] = vector
        self._items.move_to_end(text)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
