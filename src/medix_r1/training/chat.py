"""One question to a policy, answered in the MediX format and read by the shared parser.

Used by ``medix-r1 chat``. The question is wrapped in the training instruction (our wording of the
MediX prompt, :mod:`medix_r1.training.prompts`) with the image where ``Question:`` puts it, so a
trained checkpoint sees what it saw in training. A run folder whose ``config.yaml`` sits one level
up (``runs/x/final``) uses that run's prompt template and tag variant.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from medix_r1.parsing import ResponseFormat, parse_response

__all__ = ["ask", "run_prompt_settings", "run_checkpoint"]


def run_checkpoint(model: str) -> str:
    """A training run folder (``runs/x``) means its final model (``runs/x/final``); anything else
    (a model folder, a built-in name, a hub id) is returned unchanged."""
    path = Path(model)
    if path.is_dir() and not (path / "config.json").is_file() and (path / "final" / "config.json").is_file():
        return str(path / "final")
    return model


def run_prompt_settings(model_path: str | os.PathLike[str]) -> tuple[str | None, str | None]:
    """(template, think_tag) of the training run that wrote ``model_path``, when it can be found."""
    path = Path(model_path)
    for candidate in (path / "config.yaml", path.parent / "config.yaml"):
        if candidate.is_file():
            import yaml

            data = yaml.safe_load(candidate.read_text(encoding="utf-8")) or {}
            template = (data.get("prompt") or {}).get("template")
            preset = (data.get("reward") or {}).get("preset") or "medix-r1"
            from medix_r1.rewards.presets import get_preset

            try:
                think = get_preset(preset).fmt.think_tag
            except ValueError:
                think = None
            return template, think
    return None, None


def ask(
    model: str,
    question: str,
    *,
    image: str | os.PathLike[str] | None = None,
    think_tag: str = "thinking",
    max_new_tokens: int = 512,
    loaded: tuple[Any, Any] | None = None,
) -> dict[str, Any]:
    """Generate one greedy reply; returns ``modality``, ``reasoning``, ``answer``, ``well_formed``, ``raw``."""
    from medix_r1.models import load_policy
    from medix_r1.training.dataset import resize_longest
    from medix_r1.training.heldout import generate_batch
    from medix_r1.training.prompts import question_messages

    model = run_checkpoint(model)
    template, run_think = run_prompt_settings(model) if Path(model).exists() else (None, None)
    fmt = ResponseFormat(run_think or think_tag)
    policy, processor = loaded or load_policy(model)
    images = []
    if image is not None:
        from medix_r1.data import open_image

        path = Path(image)
        images = [resize_longest(open_image(path.name, path.parent).convert("RGB"), None)]
    messages = question_messages(question, fmt, with_image=bool(images), template=template)
    row = {"prompt": messages, "images": images}
    raw = generate_batch(policy, processor, [row], max_new_tokens=max_new_tokens, batch_size=1)[0]
    parsed = parse_response(raw, fmt)
    return {
        "modality": parsed.modality_name or parsed.modality,
        "reasoning": parsed.reasoning,
        "answer": parsed.answer,
        "well_formed": parsed.well_formed,
        "raw": raw,
    }
