"""Rewards: small callables over completions (format, modality, embedding, judge) and the composite.

>>> from medix_r1.rewards import FormatReward
>>> FormatReward()(["<X_RAY><thinking>r</thinking><answer>a</answer>"])
[1.0]
"""

from medix_r1.rewards.composite import COMPONENT_NAMES, CompositeReward, RewardComponent
from medix_r1.rewards.embedding import EmbeddingSimilarityReward
from medix_r1.rewards.format import FormatReward
from medix_r1.rewards.inputs import RewardInputError, Rollout, compose_solution, prepare_rollouts
from medix_r1.rewards.judge import ON_JUDGE_ERROR, JudgeAccuracyReward
from medix_r1.rewards.modality import ModalityReward
from medix_r1.rewards.presets import PRESETS, RewardPreset, build_reward, get_preset

__all__ = [
    "COMPONENT_NAMES",
    "CompositeReward",
    "RewardComponent",
    "EmbeddingSimilarityReward",
    "FormatReward",
    "ModalityReward",
    "JudgeAccuracyReward",
    "ON_JUDGE_ERROR",
    "RewardInputError",
    "Rollout",
    "compose_solution",
    "prepare_rollouts",
    "PRESETS",
    "RewardPreset",
    "build_reward",
    "get_preset",
]
