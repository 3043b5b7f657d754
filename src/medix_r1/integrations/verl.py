"""verl adapter: ``custom_reward_function.path=<this file's module>`` with ``name=compute_score``
(per sample, NaiveRewardManager) or ``name=compute_score_batch`` (BatchRewardManager).

Options come from ``custom_reward_function.reward_kwargs`` (any :class:`RewardConfig` field, e.g.
``judge_url``, ``preset``) and/or the file named by ``MEDIX_R1_REWARD_CONFIG``. The returned dict
has ``score`` (the overall reward) and every component, which verl logs.

>>> import os; os.environ.pop("MEDIX_R1_REWARD_CONFIG", None) and None
>>> r = compute_score("slake", "<X_RAY><thinking>.</thinking><answer>left lung</answer>", "<X_RAY> Left lung",
...                   judge="fake", embedding_model="hashing")
>>> r["score"], r["format"], r["modality"]
(1.0, 1.0, 1.0)
"""

from __future__ import annotations

from typing import Any

from medix_r1.asyncio_bridge import run_sync
from medix_r1.integrations.engine_config import engine_rows, reward_for

__all__ = ["compute_score", "compute_score_batch"]


def _modality(extra_info: Any) -> str | None:
    return extra_info.get("modality") if isinstance(extra_info, dict) else None


def compute_score_batch(
    data_sources: list[str],
    solution_strs: list[str],
    ground_truths: list[str],
    extra_infos: list[Any] | None = None,
    **options: Any,
) -> list[dict[str, float]]:
    """Batch form (verl ``reward_manager=batch``): one dict per response."""
    composite = reward_for(options)
    infos = extra_infos or [None] * len(solution_strs)
    modalities = [_modality(info) for info in infos]
    rows = run_sync(composite.ascore(solution_strs, ground_truths, modalities if any(modalities) else None))
    out = []
    for row in engine_rows(rows, composite):
        row["score"] = row.pop("overall")
        out.append(row)
    return out


def compute_score(
    data_source: str, solution_str: str, ground_truth: str, extra_info: Any = None, **options: Any
) -> dict[str, float]:
    """Per-sample form (verl's default reward manager)."""
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info], **options)[0]
