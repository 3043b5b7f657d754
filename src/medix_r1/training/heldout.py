"""Batched generation on training-style prompts, and the held-out check of the quickstart.

:func:`generate_batch` answers a list of dataset rows (the prompt messages and images built by
:mod:`medix_r1.training.dataset`) in batches, greedily by default. :func:`evaluate_heldout` scores
the replies with the run's composite reward and reports two accuracies:

* ``modality``: the reply opens with the record's modality tag (the modality reward, 0/1);
* ``answer``: the judge accepts the reply's answer (the ``accuracy_llm`` reward, 0/1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["generate_batch", "generate_one", "evaluate_heldout"]


def generate_batch(
    model: Any,
    processor: Any,
    rows: Sequence[dict[str, Any]],
    *,
    max_new_tokens: int = 64,
    batch_size: int = 32,
    do_sample: bool = False,
    temperature: float = 1.0,
    progress: str | None = None,
) -> list[str]:
    """Replies (special tokens removed, stripped) to rows with ``prompt`` messages and ``images``."""
    import torch

    from medix_r1.training.dataset import row_prompt

    tokenizer = getattr(processor, "tokenizer", processor)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    was_training = model.training
    model.eval()
    replies: list[str] = []
    starts = range(0, len(rows), batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=progress, unit="batch", leave=False)
    sampling: dict[str, Any] = (
        {"do_sample": True, "temperature": temperature}
        if do_sample
        else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    )
    try:
        for start in starts:
            chunk = rows[start : start + batch_size]
            texts, images = [], []
            for row in chunk:
                text, row_images = row_prompt(processor, row)
                texts.append(text)
                images.append(row_images)
            enc = processor(
                text=texts,
                images=images if any(images) else None,
                return_tensors="pt",
                padding=True,
                add_special_tokens=False,
            ).to(model.device)
            with torch.inference_mode():
                out = model.generate(
                    **enc, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id, **sampling
                )
            new = out[:, enc["input_ids"].shape[1] :]
            replies.extend(t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True))
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return replies


def generate_one(
    model: Any, processor: Any, messages: list[dict[str, Any]], image: Any = None, *, max_new_tokens: int
) -> str:
    """One greedy reply to ready-made messages (e.g. :meth:`MedixInstruction.messages`) and an
    optional PIL image: how chat, the demo and in-process evaluation ask in the training layout."""
    row = {"prompt": messages, "images": [image.convert("RGB")] if image is not None else []}
    return generate_batch(model, processor, [row], max_new_tokens=max_new_tokens, batch_size=1)[0]


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
