"""One question to a policy, answered in the MediX format and read by the shared parser.

Used by ``medix-r1 chat``. The question is wrapped in the training instruction (our wording of the
MediX prompt, :mod:`medix_r1.prompting`) with the image where ``Question:`` puts it, so a
trained checkpoint sees what it saw in training. A run folder whose ``config.yaml`` sits one level
up (``runs/x/final``) uses that run's prompt template and tag variant.
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
    else ``thinking``)."""
    from medix_r1.models import load_policy
    from medix_r1.models.generation import generate_one
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
