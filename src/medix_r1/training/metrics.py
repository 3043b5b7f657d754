"""The names of the training metrics we read back (TRL's logging layout).

TRL logs each reward function's batch mean as ``rewards/<name>/mean``; our reward functions are
named after the composite reward's components, so :func:`reward_metric_key` gives a component's
curve. The report, the plots, the alarms and the console line all read the metrics through here.

>>> reward_metric_key("format")
'rewards/format/mean'
"""

from __future__ import annotations

from medix_r1.rewards.composite import COMPONENT_NAMES

__all__ = ["reward_metric_key", "COMPONENT_KEYS", "OVERALL_KEY", "LENGTH_KEY"]


def reward_metric_key(component: str) -> str:
    """The metric key under which TRL logs the batch mean of reward function ``component``."""
    return f"rewards/{component}/mean"


#: Component name -> its metric key, in the composite reward's component order.
COMPONENT_KEYS: dict[str, str] = {name: reward_metric_key(name) for name in COMPONENT_NAMES}
#: The weighted total reward, as TRL logs it.
OVERALL_KEY = "reward"
#: The mean completion length in tokens.
LENGTH_KEY = "completions/mean_length"
