"""The held-out check of the quickstart.

:func:`evaluate_heldout` answers held-out dataset rows with
:func:`medix_r1.models.generation.generate_batch` (greedy) and scores the replies with the run's composite reward and reports two accuracies:

* ``modality``: the reply opens with the record's modality tag (the modality reward, 0/1);
* ``answer``: the judge accepts the reply's answer (the ``accuracy_llm`` reward, 0/1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from medix_r1.models.generation import generate_batch

__all__ = ["evaluate_heldout"]


def evaluate_heldout(
    model: Any,
    processor: Any,
    rows: Sequence[dict[str, Any]],
    composite: Any,
    *,
    max_new_tokens: int = 64,
    batch_size: int = 32,
    progress: str | None = None,
) -> dict[str, Any]:
    """Greedy replies to held-out rows, scored: ``{"modality", "answer", "format", "n", "examples"}``."""
    replies = generate_batch(
        model, processor, rows, max_new_tokens=max_new_tokens, batch_size=batch_size, progress=progress
    )
    scores = composite.score(replies, [r["solution"] for r in rows])

    def mean(name: str) -> float:
        values = [s[name] for s in scores if s.get(name) is not None]
        return round(sum(values) / len(values), 4) if values else 0.0

    return {
        "modality": mean("modality"),
        "answer": mean("accuracy_llm"),
        "format": mean("format"),
        "n": len(rows),
        "examples": [
            {"id": r.get("id"), "solution": r["solution"], "reply": reply}
            for r, reply in list(zip(rows, replies, strict=True))[:5]
        ],
    }
