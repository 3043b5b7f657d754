"""EasyR1 adapter: a drop-in for the published MediX-R1 reward file.

EasyR1 (hiyouga/EasyR1; vendored as ``training/`` in the published MediX-R1 repository) loads a
reward *file* named by ``worker.reward.reward_function=PATH:compute_score``, reads the reward type
from the file's ``REWARD_TYPE`` attribute (``batch`` here; there is no ``worker.reward.reward_type``
config key) and calls ``compute_score(reward_inputs, **worker.reward.reward_function_kwargs)`` inside
its reward worker, a Ray actor. :func:`launch_overrides` gives those command-line overrides for a
:class:`~medix_r1.rewards.config.RewardConfig`: the one source of the EasyR1 line for the docs and
for the ``easyr1_reward.sh`` that ``medix-r1 train --backend verl`` writes.

``compute_score`` takes the list of ``{"response", "ground_truth", ...}`` dicts and returns, per
response, a dict with ``overall, format, accuracy_llm, accuracy_embed, modality`` (the published keys),
plus ``unscored``. Settings come as keyword arguments (``reward_function_kwargs``: they travel with
EasyR1's config to every Ray worker), over a YAML/JSON file named by ``MEDIX_R1_REWARD_CONFIG`` when
that variable is set in the worker (EasyR1 does not forward it: see docs/training.md for the Ray
``runtime_env`` line). Unlike the published file, a judge outage is raised (or, with
``on_judge_error: skip``, left out of ``overall``), never scored 0, and a batch waits on the judge at
most ``judge_deadline_s``. Errors pickle with their fields, so the training driver receives our class.

>>> import os; os.environ.pop("MEDIX_R1_REWARD_CONFIG", None) and None
>>> compute_score([{"response": "<CT_SCAN><thinking>.</thinking><answer>liver</answer>",
...                 "ground_truth": "<CT_SCAN> Liver."}], judge="fake", embedding_model="hashing")[0]["overall"]
1.0
>>> launch_overrides({"judge_url": "http://judge:8085/v1"}, reward_path="/x/easyr1.py")
['worker.reward.reward_function=/x/easyr1.py:compute_score', 'worker.reward.reward_function_kwargs.judge_url=http://judge:8085/v1']
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from medix_r1.asyncio_bridge import run_sync
from medix_r1.errors import MedixError, did_you_mean
from medix_r1.integrations.engine_config import CONFIG_ENV, engine_rows, reward_for
from medix_r1.rewards.composite import CompositeReward, RewardComponent
from medix_r1.rewards.config import RewardConfig

__all__ = [
    "REWARD_NAME",
    "REWARD_TYPE",
    "EasyR1SettingsError",
    "compute_score",
    "drop_in_script",
    "launch_overrides",
    "reward_file",
]

#: Read by EasyR1's reward manager when it loads this file (``getattr(module, "REWARD_TYPE", "batch")``).
REWARD_TYPE = "batch"
#: Printed by EasyR1's reward manager when it loads this file.
REWARD_NAME = "medix-r1"

#: Where EasyR1's config keeps the reward settings (``RewardConfig`` of ``verl/workers/reward/config.py``).
_REWARD_KEY = "worker.reward"


class EasyR1SettingsError(MedixError, ValueError):
    """The reward settings a worker received are incomplete or wrong (raised in the reward worker;
    pickles, unlike pydantic's ValidationError, so the training driver sees this message)."""


def _reward(options: dict[str, Any]) -> CompositeReward:
    from pydantic import ValidationError

    try:
        return reward_for(options)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        hint = ""
        if not os.environ.get(CONFIG_ENV):
            hint = (
                f" ({CONFIG_ENV} is not set in this worker: EasyR1 does not forward environment variables to "
                "its Ray workers. Pass the settings as worker.reward.reward_function_kwargs.<field>=<value>, "
                "or forward the variable in the Ray runtime_env; see docs/training.md, 'EasyR1 drop-in')"
            )
        raise EasyR1SettingsError(f"medix-r1 reward settings: {problems}{hint}") from None


def _with_format_weight(composite: CompositeReward, format_weight: float) -> CompositeReward:
    # The published function splits (1 - format_weight) among the content rewards 0.575/0.375/0.05.
    content = 1 - format_weight
    shares = {"accuracy_llm": 0.575, "accuracy_embed": 0.375, "modality": 0.05}
    components = [
        RewardComponent(c.name, c.reward, format_weight if c.name == "format" else content * shares[c.name])
        for c in composite.components
    ]
    return CompositeReward(components, composite.fmt, composite.preset)


def compute_score(
    reward_inputs: list[dict[str, Any]], format_weight: float = 0.1, **options: Any
) -> list[dict[str, float]]:
    """Score one EasyR1 batch; ``options`` are :class:`RewardConfig` fields (``reward_function_kwargs``)."""
    if not isinstance(reward_inputs, list):
        raise ValueError(
            "medix-r1's EasyR1 reward scores whole batches (this file declares REWARD_TYPE = 'batch', which "
            "EasyR1 reads when it loads the file named by worker.reward.reward_function=PATH:compute_score); "
            f"got one {type(reward_inputs).__name__} instead of a list of reward inputs"
        )
    composite = _reward(options)
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


def reward_file() -> str:
    """The absolute path of this file, as ``worker.reward.reward_function`` needs it."""
    return str(Path(__file__).resolve())


def _cli_value(value: Any) -> str:
    """A value as EasyR1's ``OmegaConf.from_cli`` reads it back (it parses each value as YAML)."""
    import yaml

    if isinstance(value, str):
        try:
            plain = yaml.safe_load(value) == value and "${" not in value
        except yaml.YAMLError:
            plain = False
        return value if plain else json.dumps(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)  # numbers; lists and mappings as YAML flow collections


def launch_overrides(
    settings: RewardConfig | Mapping[str, Any] | None = None,
    *,
    reward_path: str | None = None,
    function: str = "compute_score",
) -> list[str]:
    """The EasyR1 overrides that load this reward with ``settings``, one ``key=value`` per item.

    ``settings`` is a :class:`RewardConfig` (only fields that differ from the defaults are passed) or a
    mapping of its fields (all passed). ``reward_path`` defaults to this file's path;
    pass e.g. ``"${MEDIX_REWARD}"`` for a script that resolves it on the launching node. Append the
    result to the published command, ``python3 -m verl.trainer.main config=examples/config.yaml ...``.
    """
    if settings is None:
        values: dict[str, Any] = {}
    elif isinstance(settings, RewardConfig):
        values = settings.model_dump(mode="json", exclude_defaults=True)
    else:
        values = dict(settings)
        for name in values:  # a misspelt name fails here, not in a Ray worker of the cluster
            if name not in RewardConfig.model_fields:
                raise ValueError(
                    f"unknown reward setting {name!r}{did_you_mean(name, RewardConfig.model_fields)}"
                )
    path = reward_path if reward_path is not None else reward_file()
    lines = [f"{_REWARD_KEY}.reward_function={path}:{function}"]
    lines += [f"{_REWARD_KEY}.reward_function_kwargs.{k}={_cli_value(v)}" for k, v in values.items()]
    return lines


def drop_in_script(settings: RewardConfig, reward_config_file: str | Path | None = None) -> str:
    """A bash snippet holding :func:`launch_overrides` for ``settings`` as the array
    ``MEDIX_REWARD_OVERRIDES``, to source before a published EasyR1 script and append to its
    ``python3 -m verl.trainer.main`` command (``medix-r1 train --backend verl`` writes it as
    ``easyr1_reward.sh``). ``reward_config_file`` is named for the environment-variable fallback."""
    overrides = launch_overrides(settings, reward_path="${MEDIX_REWARD}")
    quoted = [f'"{overrides[0]}"', *(shlex.quote(o) for o in overrides[1:])]
    lines = [
        "# EasyR1 drop-in (docs/training.md, 'EasyR1 drop-in'): the published MediX-R1 training scripts with",
        "# medix-r1's reward. Every node of the Ray cluster needs medix-r1 installed at the same path.",
        "#   source easyr1_reward.sh",
        '#   then append "${MEDIX_REWARD_OVERRIDES[@]}" to the python3 -m verl.trainer.main command of the',
        "#   EasyR1 script (after its own worker.reward.reward_function=..., which the later value replaces).",
        "# The settings travel as worker.reward.reward_function_kwargs, with EasyR1's config, to every worker.",
        "MEDIX_REWARD=$(python3 -c 'import medix_r1.integrations.easyr1 as m; print(m.reward_file())')",
        "MEDIX_REWARD_OVERRIDES=(",
        *(f"    {q}" for q in quoted),
        ")",
    ]
    if reward_config_file is not None:
        path = str(reward_config_file)
        lines += [
            "# Fallback: the same settings from a file. EasyR1 does not forward environment variables to Ray",
            "# workers; forward it in the Ray runtime_env, e.g. in examples/runtime_env.yaml under env_vars:",
            f"#     MEDIX_R1_REWARD_CONFIG: {json.dumps(path)}",
            "# and submit with: ray job submit --runtime-env=examples/runtime_env.yaml -- bash examples/<script>.sh",
            f"# (a local run without a separate cluster also reads: export MEDIX_R1_REWARD_CONFIG={shlex.quote(path)})",
        ]
    return "\n".join(lines) + "\n"
