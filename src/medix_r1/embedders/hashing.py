"""The ``hashing`` embedder: character-trigram feature hashing. Deterministic, instant, no model.

A registered test backend, not a semantic model: it knows spelling, not medicine. Use it for fast
tests and plumbing; use a sentence-transformers model for training.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["HashingEmbedder"]


class HashingEmbedder:
    """Bag of character trigrams hashed into ``dim`` buckets, L2-normalised.

    >>> e = HashingEmbedder()
    >>> v = e.encode(["left lung", "left lung", "femur"])
    >>> round(float(v[0] @ v[1]), 6), bool(v[0] @ v[2] < 0.5)
    (1.0, True)
    """

    identity = "hashing"

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        padded = f"  {text.casefold()}  "
        for i in range(len(padded) - 2):
            digest = hashlib.blake2b(padded[i : i + 3].encode(), digest_size=4).digest()
            vec[int.from_bytes(digest, "little") % self.dim] += 1.0
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm else vec

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])
