"""One question to a model in the MediX layout, answered and read by the shared parser: ``medix-r1 chat``.

The question is wrapped in the instruction the run that wrote the model was trained with
(:func:`medix_r1.models.runs.run_instruction`: our wording of the MediX prompt,
:mod:`medix_r1.prompting`, with the run's template and tag variant), the image where ``Question:``
puts it, so a trained checkpoint sees what it saw in training. A run folder means its ``final/``
model (:func:`medix_r1.models.runs.run_checkpoint`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from medix_r1.parsing import parse_response

__all__ = ["ask"]


def ask(
    model: str,
    question: str,
    *,
    image: str | os.PathLike[str] | None = None,
    think_tag: str | None = None,
    max_new_tokens: int = 512,
    loaded: tuple[Any, Any] | None = None,
) -> dict[str, Any]:
    """Generate one greedy reply; returns ``modality``, ``reasoning``, ``answer``, ``well_formed``, ``raw``.

    ``think_tag`` overrides the reasoning tag of the run that wrote ``model`` (default: the run's,
    else ``thinking``); ``loaded`` is an already loaded ``(policy, processor)``."""
    from medix_r1.models.generation import generate_one
    from medix_r1.models.loading import load_policy
    from medix_r1.models.runs import run_checkpoint, run_instruction

    model = run_checkpoint(model)
    instruction = run_instruction(model, think_tag)
    policy, processor = loaded or load_policy(model)
    picture = None
    if image is not None:
        from medix_r1.data import open_image

        path = Path(image)
        picture = open_image(path.name, path.parent)
    messages = instruction.messages(question, with_image=picture is not None)
    raw = generate_one(policy, processor, messages, picture, max_new_tokens=max_new_tokens)
    parsed = parse_response(raw, instruction.fmt)
    return {
        "modality": parsed.modality_name or parsed.modality,
        "reasoning": parsed.reasoning,
        "answer": parsed.answer,
        "well_formed": parsed.well_formed,
        "raw": raw,
    }
