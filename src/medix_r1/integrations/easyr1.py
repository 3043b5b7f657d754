"""EasyR1 adapter: a drop-in for the published reward file (``reward_type=batch``).

Point EasyR1's ``worker.reward.reward_function`` at this module's file with ``:compute_score``. It
takes the list of ``{"response", "ground_truth", ...}`` dicts and returns, per response, a dict
with ``overall, format, accuracy_llm, accuracy_embed, modality`` (the published keys), plus
``unscored``. The judge is configured through ``MEDIX_R1_REWARD_CONFIG`` (YAML/JSON) or keyword
arguments (``reward_function_kwargs``); unlike the published file, a judge outage is raised (or,
with ``on_judge_error: skip``, left out of ``overall``), never scored 0.

>>> import os; os.environ.pop("MEDIX_R1_REWARD_CONFIG", None) and None
>>> compute_score([{"response": "<CT_SCAN><thinking>.</thinking><answer>liver</answer>",
...                 "ground_truth": "<CT_SCAN> Liver."}], judge="fake", embedding_model="hashing")[0]["overall"]
1.0
"""

from __future__ import annotations

from typing import Any

from medix_r1.asyncio_bridge import run_sync
from medix_r1.integrations.engine_config import engine_rows, reward_for
from medix_r1.rewards.composite import CompositeReward, RewardComponent

__all__ = ["compute_score"]


def _with_format_weight(composite: CompositeReward, format_weight: float) -> CompositeReward:
    # The published function splits (1 - format_weight) among the content rewards 0.575/0.375/0.05.
    content = 1 - format_weight
    shares = {"accuracy_llm": 0.575, "accuracy_embed": 0.375, "modality": 0.05}
    components = [
        RewardComponent(c.name, c.reward, format_weight if c.name == "format" else content * shares[c.name])
        for c in composite.components
    ]
    return CompositeReward(components, composite.fmt, composite.preset, composite.renormalize_missing)


def compute_score(
    reward_inputs: list[dict[str, Any]], format_weight: float = 0.1, **options: Any
) -> list[dict[str, float]]:
    if not isinstance(reward_inputs, list):
        raise ValueError("medix-r1's EasyR1 reward works on batches: set worker.reward.reward_type=batch")
    composite = reward_for(options)
    if format_weight != 0.1:
        composite = _with_format_weight(composite, format_weight)
    for i, item in enumerate(reward_inputs):
        for key in ("response", "ground_truth"):
            if key not in item:
                raise ValueError(f"reward input {i} has no {key!r} field (got {sorted(item)})")
    responses = [item["response"] for item in reward_inputs]
    truths = [item["ground_truth"] for item in reward_inputs]
    rows = run_sync(composite.ascore(responses, truths))
    return engine_rows(rows, composite)
