"""Named training configs: the published MediX-R1 recipes and a CPU quickstart.

The published numbers (reference section 4, and the released training scripts read for facts):
one node of 8 GPUs; 512 prompts per step, 5 responses each; temperature 1.0, top_p 1.0; prompts up to
4352 tokens, responses up to 4096; images between 512x512 and 2048x2048 pixels; AdamW, lr 1e-6
constant, weight decay 0.01, gradient clip 1.0, 4 updates per step (mini-batches of 128 prompts);
vision tower trained; 2 epochs; validation every 5 steps at temperature 0.6, top_p 0.95; checkpoints
every 5 steps, 3 kept; the published reward (``medix-r1`` preset, ``<thinking>`` tags).

* DAPO (the shipped recipe): clip 0.2 / 0.28, no KL, dynamic filtering of groups whose mean overall
  reward is <= 0.01 or >= 0.99, refilled 128 prompts at a time, at most 20 tries.
* GRPO: KL loss (low-variance estimator, coefficient 0.01), clip 0.2 / 0.3, token-mean loss
  (EasyR1's default aggregation, which is TRL's ``dapo`` loss_type).
* GSPO (the Qwen2.5-VL-7B script): sequence-level importance ratio, clip 3e-4 / 4e-4, no KL,
  sequence-mean loss.

>>> sorted(PRESETS)
['medix-r1-2b-dapo', 'medix-r1-30b-dapo', 'medix-r1-8b-dapo', 'medix-r1-8b-grpo', 'quickstart', 'qwen2.5-vl-7b-gspo']
>>> get_preset("medix-r1-8b-grpo").algorithm.beta
0.01
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from medix_r1.errors import did_you_mean
from medix_r1.prompting import COMPACT_TEMPLATE
from medix_r1.training.config import ConfigError, TrainConfig

__all__ = ["PRESETS", "get_preset", "preset_names", "QUICKSTART_WEIGHTS"]

_DAPO: dict[str, Any] = {
    "name": "dapo",
    "beta": 0.0,
    "epsilon": 0.2,
    "epsilon_high": 0.28,
    "dynamic_filtering": True,
    "filter_low": 0.01,
    "filter_high": 0.99,
    "filter_refill_prompts": 128,
    "filter_max_tries": 20,
}
_GRPO: dict[str, Any] = {
    "name": "grpo",
    "loss_type": "dapo",  # token-mean aggregation, as EasyR1 (the published engine) does by default
    "beta": 0.01,
    "epsilon": 0.2,
    "epsilon_high": 0.3,
    "dynamic_filtering": False,
}
_GSPO: dict[str, Any] = {
    "name": "gspo",
    "beta": 0.0,
    "epsilon": 3e-4,
    "epsilon_high": 4e-4,
    "dynamic_filtering": False,
}


def _published(
    name: str, model: str, algorithm: dict[str, Any], description: str, **extra: Any
) -> TrainConfig:
    data: dict[str, Any] = {
        "name": name,
        "description": description,
        "model": {"name": model},
        "algorithm": algorithm,
        "checkpoint": {"output_dir": f"runs/{name}"},
    }
    for key, value in extra.items():
        data.setdefault(key, {}).update(value)
    return TrainConfig(**data)


#: Quickstart reward weights: the published components, with modality raised so that learning the
#: modality tag through the reward is visible within minutes (published: modality 0.045). With the
#: answer components at their published share, the tag's part of each advantage is too small for a
#: tiny random policy to pick up in the quickstart's step budget (docs/training.md, issue 16).
QUICKSTART_WEIGHTS = {"accuracy_llm": 0.05, "accuracy_embed": 0.05, "modality": 0.8, "format": 0.1}
QUICKSTART_STEPS = 700
#: The quickstart's RL prompts are balanced over the modality tags for this many steps, then drawn
#: as the records are (docs/training.md, "What the quickstart reaches").
QUICKSTART_BALANCED_STEPS = 400


def _quickstart() -> TrainConfig:
    return TrainConfig(
        name="quickstart",
        description="CPU quickstart: a tiny Qwen2-VL on the bundled samples, fake judge and MiniLM, minutes.",
        differs=(
            "tiny random Qwen2-VL (0.4 M params; SmolLM2's vocabulary trimmed to the bundled samples, 897 "
            "tokens; modality and format tags one token each) instead of Qwen3-VL; bundled sample set, "
            f"RL prompts balanced over the modality tags for the first {QUICKSTART_BALANCED_STEPS} steps, then "
            "as found; offline fake judge (word match) and MiniLM instead "
            "of Qwen3-4B and MedEmbed; reward weights modality 0.8, accuracy_llm 0.05, accuracy_embed 0.05, "
            "format 0.1 (published 0.045 / 0.5175 / 0.3375 / 0.1); a supervised warm-start on the output "
            "format with random modality tags; the compact instruction (same content, fewer tokens); "
            f"8 prompts x 8 responses per step, 32-token responses, lr 1e-3 with cosine decay (published: "
            "1e-6 constant), 1 update per step "
            f"(published: 4), {QUICKSTART_STEPS} steps, images of at most 112 px"
        ),
        model={
            "name": "tiny-qwen2-vl-samples",
            "dtype": "float32",
            "min_pixels": 28 * 28,
            "max_pixels": 112 * 112,
            "gradient_checkpointing": False,
            "single_token_tags": True,
        },
        data={
            "train": "samples",
            "train_split": None,
            "eval": "samples:test",
            "eval_split": None,
            "image_max_side": 112,
            "seed": 0,
            "balance_modalities": True,
            # Balanced prompts until the policy tells images apart, then the records as found.
            "balance_steps": QUICKSTART_BALANCED_STEPS,
            "balance_power": 0.0,
        },
        prompt={"template": COMPACT_TEMPLATE},
        reward={
            "preset": "medix-r1",
            "judge": "fake",
            "judge_url": None,
            "embedding_model": "minilm",
            "weights": QUICKSTART_WEIGHTS,
        },
        algorithm={**_DAPO, "filter_refill_prompts": 8, "filter_max_tries": 2},
        rollout={
            "group_size": 8,
            "prompts_per_step": 8,
            "temperature": 1.0,
            "max_prompt_length": 512,
            "max_completion_length": 32,
        },
        optim={
            "learning_rate": 1e-3,
            "lr_scheduler": "cosine",
            "weight_decay": 0.0,
            "updates_per_step": 1,
            "micro_batch_size": 64,
            "bf16": False,
            # The tiny policy's ops are too small to gain from a second thread: it generates 1.45x
            # faster on one (benchmarks/quickstart_step.py, after-all-cores), and a run repeats on
            # any core count.
            "cpu_threads": 1,
        },
        schedule={"max_steps": QUICKSTART_STEPS, "seed": 0},
        validation={"every": 0},
        checkpoint={"output_dir": "runs/quickstart", "save_every": 0, "save_limit": 1},
        logging={"alarms": {"window": 8}},
        warmstart={
            "enabled": True,
            "steps": 150,
            "batch_size": 16,
            "learning_rate": 2e-3,
            "tag_policy": "random",
            "reasoning": "I look.",
        },
    )


#: Training presets by name, each a function that builds a fresh config (``PRESETS[name]()``, or
#: :func:`get_preset`); a mapping like the reward presets' ``medix_r1.rewards.PRESETS``.
PRESETS: dict[str, Callable[[], TrainConfig]] = {
    "medix-r1-2b-dapo": lambda: _published(
        "medix-r1-2b-dapo",
        "Qwen/Qwen3-VL-2B-Instruct",
        _DAPO,
        "MediX-R1 2B: Qwen3-VL-2B-Instruct, DAPO, the published recipe.",
    ),
    "medix-r1-8b-dapo": lambda: _published(
        "medix-r1-8b-dapo",
        "Qwen/Qwen3-VL-8B-Instruct",
        _DAPO,
        "MediX-R1 8B: Qwen3-VL-8B-Instruct, DAPO, the published recipe.",
    ),
    "medix-r1-8b-grpo": lambda: _published(
        "medix-r1-8b-grpo",
        "Qwen/Qwen3-VL-8B-Instruct",
        _GRPO,
        "MediX-R1 8B with the published GRPO recipe (KL loss 0.01, clip 0.2 / 0.3).",
    ),
    "medix-r1-30b-dapo": lambda: _published(
        "medix-r1-30b-dapo",
        "Qwen/Qwen3-VL-30B-A3B-Thinking",
        _DAPO,
        "MediX-R1 30B: Qwen3-VL-30B-A3B (Thinking, per the training script), DAPO, bf16 optimiser states.",
        verl={"tensor_parallel_size": 8},
    ),
    "qwen2.5-vl-7b-gspo": lambda: _published(
        "qwen2.5-vl-7b-gspo",
        "Qwen/Qwen2.5-VL-7B-Instruct",
        _GSPO,
        "Qwen2.5-VL-7B with the published GSPO script (sequence-level ratio, clip 3e-4 / 4e-4).",
    ),
    "quickstart": _quickstart,
}


def preset_names() -> list[str]:
    return sorted(PRESETS)


def get_preset(name: str) -> TrainConfig:
    """A fresh copy of a named config; an unknown name fails with "did you mean" and the list."""
    try:
        builder = PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown training preset or config file {name!r}{did_you_mean(name, PRESETS) or '.'} "
            f"Presets: {', '.join(sorted(PRESETS))}; or give a .yaml file"
        ) from None
    return builder()
