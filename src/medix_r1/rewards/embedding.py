"""Embedding-similarity reward (reference 3.7): cosine similarity of predicted and reference answers.

Batch-first: every distinct string of a batch is encoded once, in one call. Reference embeddings
are kept in a bounded cache across calls (references repeat across a rollout group and across
epochs), and predicted answers in a small one of their own (a converging policy repeats its short
answers, such as "MRI", step after step; long free-text answers rarely repeat, so they cannot push
references out). Binary at a threshold (published: 1 when similarity >= 0.8) or continuous.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np

from medix_r1.embedders.base import Embedder, EmbeddingCache
from medix_r1.parsing import THINKING, ResponseFormat
from medix_r1.rewards.inputs import Rollout, RolloutReward

__all__ = ["EmbeddingSimilarityReward"]


class EmbeddingSimilarityReward(RolloutReward):
    """``binary=True``: 1.0 when cosine similarity >= ``threshold``; ``binary=False``: the similarity
    clipped to [0, 1]. Invalid answers score 0 and exact matches 1 without any encoding.

    >>> from medix_r1.embedders import HashingEmbedder
    >>> reward = EmbeddingSimilarityReward(HashingEmbedder())
    >>> reward(["<answer>left lung</answer>", "<answer>B</answer>", "<answer>femur</answer>"],
    ...        solution=["<X_RAY> left lung.", "<X_RAY> B", "<X_RAY> left lung"])
    [1.0, 0.0, 0.0]
    """

    __name__ = "accuracy_embed"

    def __init__(
        self,
        embedder: Embedder,
        *,
        threshold: float = 0.8,
        binary: bool = True,
        fmt: ResponseFormat = THINKING,
        reference_cache_size: int = 50_000,
        answer_cache_size: int = 4_096,
    ) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self.binary = binary
        self.fmt = fmt
        self.reference_cache = EmbeddingCache(reference_cache_size)
        self.answer_cache = EmbeddingCache(answer_cache_size)
        self.strings_encoded = 0

    def similarities(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Cosine similarity of each (prediction, reference) pair; each distinct string encoded once
        (and not again while a cache holds it)."""
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        vectors: dict[str, np.ndarray] = {}
        for side, cache in ((1, self.reference_cache), (0, self.answer_cache)):
            for text in dict.fromkeys(pair[side] for pair in pairs):
                if text not in vectors:
                    cached = cache.get(text)
                    if cached is not None:
                        vectors[text] = cached
        todo = list(dict.fromkeys(s for pair in pairs for s in pair if s not in vectors))
        if todo:
            encoded = self.embedder.encode(todo)
            self.strings_encoded += len(todo)
            vectors.update(zip(todo, encoded, strict=True))
        for prediction, reference in pairs:
            self.reference_cache.put(reference, vectors[reference])
            self.answer_cache.put(prediction, vectors[prediction])
        return np.array([float(vectors[p] @ vectors[r]) for p, r in pairs], dtype=np.float64)

    def score_rollouts(self, rollouts: Sequence[Rollout]) -> list[float]:
        scores: list[float] = [r.shortcut if r.shortcut is not None else 0.0 for r in rollouts]
        todo = [i for i, r in enumerate(rollouts) if r.shortcut is None]
        sims = self.similarities([(rollouts[i].answer, rollouts[i].reference or "") for i in todo])
        for i, sim in zip(todo, sims, strict=True):
            if self.binary:
                scores[i] = 1.0 if sim >= self.threshold else 0.0
            else:
                scores[i] = min(1.0, max(0.0, float(sim)))
        return scores

    async def ascore_rollouts(self, rollouts: Sequence[Rollout]) -> list[float]:
        """Same as :meth:`score_rollouts`, in a worker thread so judge requests keep flowing."""
        return await asyncio.to_thread(self.score_rollouts, rollouts)
