"""Training run folders as models: which checkpoint a run folder means, and how it was prompted.

``runs/x`` (a training run's output folder) means its final model ``runs/x/final``; the run's
``config.yaml`` (in the folder or one level up) holds the prompt template and the reward preset,
whose tag variant (``<thinking>`` or ``<think>``) the run was trained to write. Chat, the demo and
in-process evaluation ask a checkpoint through :func:`run_instruction`, so it sees what it saw in
training.
"""

from __future__ import annotations

import os
from pathlib import Path

from medix_r1.prompting import MedixInstruction

__all__ = ["run_checkpoint", "run_prompt_settings", "run_instruction"]


def run_checkpoint(model: str) -> str:
    """A training run folder (``runs/x``) means its final model (``runs/x/final``); anything else
    (a model folder, a built-in name, a hub id) is returned unchanged."""
    path = Path(model)
    if path.is_dir() and not (path / "config.json").is_file() and (path / "final" / "config.json").is_file():
        return str(path / "final")
    return model


def run_prompt_settings(model_path: str | os.PathLike[str]) -> tuple[str | None, str | None]:
    """(template, think_tag) of the training run that wrote ``model_path`` (its ``config.yaml`` in the
    folder or one level up, as in ``runs/x/final``); ``(None, None)`` when there is none."""
    path = Path(model_path)
    for candidate in (path / "config.yaml", path.parent / "config.yaml"):
        if candidate.is_file():
            import yaml

            from medix_r1.rewards.presets import get_preset

            data = yaml.safe_load(candidate.read_text(encoding="utf-8")) or {}
            template = (data.get("prompt") or {}).get("template")
            preset = (data.get("reward") or {}).get("preset") or "medix-r1"
            try:
                think = get_preset(preset).fmt.think_tag
            except ValueError:
                think = None
            return template, think
    return None, None


def run_instruction(model: str | os.PathLike[str] | None, think_tag: str | None = None) -> MedixInstruction:
    """The instruction a local checkpoint was trained with (:func:`run_prompt_settings`), else ours
    with ``<thinking>``; ``think_tag`` overrides the run's tag variant."""
    found = run_prompt_settings(model) if model and Path(model).exists() else (None, None)
    template, run_think = found
    return MedixInstruction(think_tag or run_think or "thinking", template)
