"""How the engine adapters (verl, EasyR1) find their reward configuration.

Those engines import a reward *file* in each worker, so the configuration travels as keyword
arguments (verl 0.9: ``reward.custom_reward_function.reward_kwargs``) or as a YAML/JSON file named by the
``MEDIX_R1_REWARD_CONFIG`` environment variable, read on the first call (never at import).
"""

from __future__ import annotations

import json
import math
import os
import threading
from typing import Any

from medix_r1.rewards.composite import COMPONENT_NAMES, CompositeReward
from medix_r1.rewards.config import RewardConfig, build_reward_from_config, load_reward_config

__all__ = ["reward_for", "CONFIG_ENV", "engine_rows"]

CONFIG_ENV = "MEDIX_R1_REWARD_CONFIG"

_lock = threading.Lock()
_rewards: dict[str, CompositeReward] = {}


def reward_for(options: dict[str, Any]) -> CompositeReward:
    """The composite reward for these options (built once per distinct configuration)."""
    key = json.dumps(options, sort_keys=True, default=str)
    with _lock:
        if key not in _rewards:
            path = os.environ.get(CONFIG_ENV)
            if path:
                base = load_reward_config(path).model_dump()
                config = RewardConfig(**{**base, **options})
            else:
                config = RewardConfig(**options)
            _rewards[key] = build_reward_from_config(config)
        return _rewards[key]


def engine_rows(rows: list[dict[str, float | None]], composite: CompositeReward) -> list[dict[str, float]]:
    """Engines need numbers: an unscored component becomes NaN (flagged by ``unscored`` = 1.0) and
    ``overall`` is :meth:`CompositeReward.combine` (an unscored component adds nothing; nothing is
    re-weighted), so it is never NaN and an outage never raises a wrong answer's score."""
    out = []
    for row in rows:
        fixed = {"overall": float(composite.combine(row))}
        for name in COMPONENT_NAMES:
            if name in row:
                fixed[name] = math.nan if row[name] is None else float(row[name])  # type: ignore[arg-type]
        fixed["unscored"] = 1.0 if composite.unscored(row) else 0.0
        out.append(fixed)
    return out
