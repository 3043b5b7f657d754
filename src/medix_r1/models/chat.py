"""One chat turn with a policy: build the Qwen-VL message, apply the chat template, generate, decode.

In-process evaluation and the demo's plain-prompt path call :func:`generate_reply` (image first,
then the question, as evaluation sends it). Prompts in the MediX training layout (instruction,
image, question) come from :func:`medix_r1.prompting.question_messages` instead, which
``medix-r1 chat`` and the demo's default prompt use.

The messages here are the policy's own (an ``{"type": "image"}`` slot the processor fills with
pixels); messages sent to a chat server are built by :mod:`medix_r1.chat.messages`.

>>> policy_messages("Which organ is shown?", image=True)
[{'role': 'user', 'content': [{'type': 'image'}, {'type': 'text', 'text': 'Which organ is shown?'}]}]
>>> policy_messages("Hi", system="Be brief.", text_only=True)
[{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': 'Hi'}]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medix_r1.models.extras import require_transformers

if TYPE_CHECKING:
    from PIL.Image import Image
    from transformers import PreTrainedModel

__all__ = ["policy_messages", "build_messages", "load_image", "generate_reply"]


def policy_messages(
    question: str, image: Any = None, *, system: str | None = None, text_only: bool = False
) -> list[dict[str, Any]]:
    """Chat messages for one user turn, image first (as Qwen-VL models are trained).

    ``image`` only decides whether an ``{"type": "image"}`` part is added (the pixels go to the
    processor separately). ``text_only=True`` gives plain string contents, for tokenizers whose chat
    template does not understand content lists (e.g. SmolLM2's own).
    """
    if text_only:
        if image is not None:
            raise ValueError("an image was given, but text_only=True (this model has no image processor)")
        messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    else:
        parts: list[dict[str, Any]] = [{"type": "image"}] if image is not None else []
        parts.append({"type": "text", "text": question})
        messages = [{"role": "user", "content": parts}]
    if system is not None:
        messages.insert(
            0, {"role": "system", "content": system if text_only else [{"type": "text", "text": system}]}
        )
    return messages


#: Deprecated name of :func:`policy_messages` (``medix_r1.evaluation.build_messages`` was another
#: thing: now :func:`medix_r1.evaluation.generation.sample_messages`).
build_messages = policy_messages


def load_image(image: Image | str | os.PathLike[str]) -> Image:
    """A PIL image in RGB from a PIL image or a file path (PNG, JPEG...)."""
    from PIL import Image as PILImage

    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"image file not found: {path}")
        with PILImage.open(path) as opened:
            return opened.convert("RGB")
    if isinstance(image, PILImage.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    raise TypeError(f"image must be a PIL image or a file path, got {type(image).__name__}")


def generate_reply(
    model: PreTrainedModel,
    processor: Any,
    question: str,
    image: Image | str | os.PathLike[str] | None = None,
    *,
    system: str | None = None,
    max_new_tokens: int = 256,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int | None = None,
) -> str:
    """Answer ``question`` (about ``image``, if given) with one generated assistant turn.

    Args:
        model, processor: from :func:`~medix_r1.models.loading.load_policy`. A text-only model's
            processor is its tokenizer; it cannot take an image.
        question: the user's text.
        image: a PIL image or an image file path.
        system: an optional system message.
        max_new_tokens: generation limit.
        do_sample: ``False`` is greedy decoding (deterministic; evaluation's temperature 0);
            ``True`` samples with ``temperature`` and ``top_p``.
        seed: with ``do_sample``, makes the sample reproducible (global RNG untouched).

    Returns:
        The decoded reply without special tokens, stripped of surrounding whitespace.
    """
    require_transformers("generating a reply")
    import torch

    has_images = getattr(processor, "image_processor", None) is not None
    if image is not None and not has_images:
        raise ValueError(f"{type(model).__name__} is a text-only model; it cannot answer about an image")
    messages = policy_messages(question, image, system=system, text_only=not has_images)
    prompt = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    # The template already wrote every special token; the tokenizer must not add a BOS of its own.
    if image is not None:
        inputs = processor(
            text=[prompt], images=[load_image(image)], return_tensors="pt", add_special_tokens=False
        )
    elif has_images:
        inputs = processor(text=[prompt], return_tensors="pt", add_special_tokens=False)
    else:
        inputs = processor([prompt], return_tensors="pt", add_special_tokens=False)
    inputs = inputs.to(model.device)
    tokenizer = getattr(processor, "tokenizer", processor)
    sampling: dict[str, Any] = (
        {"do_sample": True, "temperature": temperature, "top_p": top_p}
        # Hub generation configs (Qwen3-VL's) enable sampling; greedy must override all of it.
        if do_sample
        else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    )
    with torch.random.fork_rng(devices=[] if model.device.type == "cpu" else [model.device]):
        if seed is not None:
            torch.manual_seed(seed)
        with torch.inference_mode():
            output = model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
                **sampling,
            )
    new_tokens = output[0, inputs["input_ids"].shape[1] :]
    return tokenizer.decode(new_tokens, skip_special_tokens=True).strip()
