"""A training config from a preset name or a YAML file (``base: <preset>`` starts from a preset).

The sections and their validation live in :mod:`medix_r1.training.config`, the named presets in
:mod:`medix_r1.training.presets`; this module joins the two, so neither imports the other's user.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from medix_r1.training.config import ConfigError, TrainConfig, apply_overrides, parse_config
from medix_r1.training.presets import PRESETS, get_preset

__all__ = ["load_config"]


def load_config(source: str | os.PathLike[str], overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """A preset name or a YAML file (``base: <preset>`` starts from a preset), then ``overrides``."""
    source_str = str(source)
    path = Path(source_str)
    if path.suffix in (".yaml", ".yml", ".json") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"config file {source_str!r} not found")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{source_str}: not valid YAML ({err})") from None
        if not isinstance(data, dict):
            raise ConfigError(
                f"{source_str}: expected a mapping of config sections, got {type(data).__name__}"
            )
        base = data.pop("base", None)
        if base is not None:
            merged = get_preset(str(base)).model_dump(mode="json")
            _deep_update(merged, data)
            data = merged
        config = parse_config(data, f"in {source_str}")
    elif source_str in PRESETS:
        config = get_preset(source_str)
    else:
        get_preset(source_str)  # raises with "did you mean"
        raise AssertionError("unreachable")  # pragma: no cover
    return apply_overrides(config, list(overrides)) if overrides else config


def _deep_update(target: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict) and key != "weights":
            _deep_update(target[key], value)
        else:
            target[key] = value
