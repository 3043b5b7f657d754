"""Generation in the training layout: a dataset row's prompt as the policy reads it, batched replies.

:func:`row_prompt` turns a row's ``prompt`` messages (built by :mod:`medix_r1.prompting`) into the
text the policy reads, as TRL builds it for generation; :func:`generate_batch` answers rows in
batches (greedy by default); :func:`generate_one` answers one set of ready-made messages: how chat,
the demo and in-process evaluation ask a model as training did.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["row_prompt", "generate_batch", "generate_one"]


def row_prompt(processor: Any, row: dict[str, Any]) -> tuple[str, list[Image]]:
    """A dataset row's prompt as the policy reads it (chat template applied, generation turn opened)
    and its images, in the order of their slots: what TRL builds for generation."""
    from trl.data_utils import prepare_multimodal_messages

    images = list(row.get("images") or [])
    messages = prepare_multimodal_messages(row["prompt"], images=images)
    return processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True), images


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
