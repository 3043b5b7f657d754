"""Every place medix-r1 reaches into TRL's private API, in one module, checked before it is used.

The TRL backend (:mod:`medix_r1.training.trl_backend`) runs TRL's own ``GRPOTrainer``; what it adds
needs a few of TRL's (and its ``transformers.Trainer`` base's) private members. Each is listed in
:data:`PRIVATE_METHODS` / :data:`PRIVATE_ATTRIBUTES` / :data:`CPU_SCORING_SWITCH` with the
signature it has in the tested TRL (:data:`TESTED_TRL`, the range pinned in ``pyproject.toml``):

- ``trl.trainer.utils._use_triton(device)``: reassigned on CPU so TRL's fused log-prob head scores
  only completion tokens (:func:`score_completion_tokens_only_on_cpu`);
- ``_save(output_dir, state_dict)``: overridden to save image-only processors ourselves;
- ``_generate(prompts)``: overridden to time generation and, on a CPU, to sample by inverse CDF
  (:func:`cpu_categorical_sampling`, a swap of ``torch.multinomial`` while TRL generates);
- ``_calculate_rewards(inputs, prompts, completions, completion_ids_list)``: overridden to time the
  reward and keep the overall reward of each row (:func:`medix_r1.integrations.trl.combine_rewards`);
- ``_generate_and_score_completions(inputs)``: overridden to run DAPO's dynamic filtering around it;
- ``_save_checkpoint(model, trial)``: called to save a resumable checkpoint when a judge outage stops
  a run (:func:`save_checkpoint_now`);
- the trainer's ``_metrics`` (``{"train": defaultdict(list), "eval": ...}``, where we append our
  timing, DAPO and judge curves), ``use_vllm``, ``reward_func_names`` and ``ref_model``.

A TRL that lacks one of them, or has it with other parameters, makes :func:`check_trl` (run before
the trainer class is built) or the trainer's constructor raise :class:`TrlCompatError`, naming what is
missing, the installed TRL and the tested range. Nothing is skipped quietly: an adaptation that did
not apply would change what a run does (or costs) without a word. ``tests/training/test_trl_compat.py``
checks each member against the installed TRL and that each patch takes effect.
"""

from __future__ import annotations

import contextlib
import inspect
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from medix_r1.errors import MedixError

__all__ = [
    "TESTED_TRL",
    "TrlCompatError",
    "check_trainer_attributes",
    "check_trl",
    "cpu_categorical_sampling",
    "save_checkpoint_now",
    "score_completion_tokens_only_on_cpu",
    "trainer_class",
]

TESTED_TRL = ">=1.16,<1.17"
"""The TRL versions this module is tested against (the ``train`` extra's pin in ``pyproject.toml``)."""

# (member of GRPOTrainer, its parameters in the tested TRL): the methods we override or call.
PRIVATE_METHODS: dict[str, tuple[str, ...]] = {
    "_save": ("self", "output_dir", "state_dict"),
    "_generate": ("self", "prompts"),
    "_calculate_rewards": ("self", "inputs", "prompts", "completions", "completion_ids_list"),
    "_generate_and_score_completions": ("self", "inputs"),
    "_save_checkpoint": ("self", "model", "trial"),
}
# Attributes TRL's GRPOTrainer.__init__ sets, which the trainer subclass and set_reference read.
PRIVATE_ATTRIBUTES: tuple[str, ...] = ("_metrics", "use_vllm", "reward_func_names", "ref_model")
# (module, function, its parameters): the switch score_completion_tokens_only_on_cpu reassigns.
CPU_SCORING_SWITCH: tuple[str, str, tuple[str, ...]] = ("trl.trainer.utils", "_use_triton", ("device",))
# The function of that module whose fused forward looks the switch up at call time.
CPU_SCORING_READER = "add_fused_lm_head"


class TrlCompatError(MedixError, RuntimeError):
    """The installed TRL lacks a private member medix-r1 adapts (or has it with other parameters)."""


def _trl_version() -> str:
    try:
        import trl
    except ImportError:  # pragma: no cover - the caller required the train extra first
        return "not installed"
    return str(getattr(trl, "__version__", "unknown"))


def _incompatible(problems: list[str]) -> TrlCompatError:
    return TrlCompatError(
        f"the installed TRL ({_trl_version()}) does not have what medix-r1's TRL backend adapts: "
        + "; ".join(problems)
        + f". medix-r1 is tested with trl{TESTED_TRL}: install it with pip install 'trl{TESTED_TRL}' "
        "(or pip install 'medix-r1[train]')"
    )


def _parameter_problem(owner: str, name: str, member: Any, expected: tuple[str, ...]) -> str | None:
    """Why ``member`` is not the callable ``owner.name(expected...)`` we adapt, or None when it is."""
    if member is None:
        return f"{owner}.{name} is missing"
    if not callable(member):
        return f"{owner}.{name} is not a function"
    try:
        found = tuple(inspect.signature(member).parameters)
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return f"{owner}.{name} has no inspectable signature"
    if found != expected:
        return f"{owner}.{name} takes ({', '.join(found)}), expected ({', '.join(expected)})"
    return None


def _reads_global(function: Any, name: str) -> bool:
    """Whether ``function`` (or a function defined inside it) looks ``name`` up in its module's globals,
    so that reassigning the module attribute changes what it does."""
    code = getattr(function, "__code__", None)
    stack = [code] if code is not None else []
    while stack:
        code = stack.pop()
        if name in code.co_names:
            return True
        stack.extend(c for c in code.co_consts if inspect.iscode(c))
    return False


def check_trl() -> None:
    """Raise :class:`TrlCompatError` unless GRPOTrainer has every private method we override or call,
    with the parameters of the tested TRL (:data:`PRIVATE_METHODS`)."""
    from trl import GRPOTrainer

    problems = [
        problem
        for name, expected in PRIVATE_METHODS.items()
        if (problem := _parameter_problem("GRPOTrainer", name, getattr(GRPOTrainer, name, None), expected))
    ]
    if problems:
        raise _incompatible(problems)


def check_trainer_attributes(trainer: Any) -> None:
    """Raise :class:`TrlCompatError` unless a built trainer has the attributes of
    :data:`PRIVATE_ATTRIBUTES`, and ``_metrics`` is TRL's ``{"train"/"eval": defaultdict(list)}``."""
    problems = [
        f"GRPOTrainer().{name} is missing" for name in PRIVATE_ATTRIBUTES if not hasattr(trainer, name)
    ]
    metrics = getattr(trainer, "_metrics", None)
    if metrics is not None and not (
        isinstance(metrics, dict)
        and all(isinstance(metrics.get(mode), defaultdict) for mode in ("train", "eval"))
        and all(metrics[mode].default_factory is list for mode in ("train", "eval"))
    ):
        problems.append(
            "GRPOTrainer()._metrics is not {'train': defaultdict(list), 'eval': defaultdict(list)}"
        )
    if problems:
        raise _incompatible(problems)


def score_completion_tokens_only_on_cpu() -> bool:
    """Make TRL's fused log-prob head score only completion tokens on CPU, as it does on CUDA.

    TRL 1.x projects *every* position (prompt and image tokens included) through the LM head when no
    Triton device is present, to keep tile shapes fixed for compilers such as Neuron's. On a CPU that
    costs ~7x the work for our prompts (~300 prompt tokens, <= 48 completion tokens, 49k vocabulary),
    measured at most of a quickstart step. The result is the same: masked positions are zeroed either
    way. Returns True once the switch is in place; raises :class:`TrlCompatError` when TRL has no
    such switch (then nothing is done, and the run would silently cost several times more).
    """
    import importlib

    module_name, name, expected = CPU_SCORING_SWITCH
    trl_utils = importlib.import_module(module_name)
    original = getattr(trl_utils, name, None)
    if getattr(original, "_medix_cpu_compact", False):
        return True
    problem = _parameter_problem(module_name, name, original, expected)
    if problem is None and not _reads_global(getattr(trl_utils, CPU_SCORING_READER, None), name):
        problem = f"{module_name}.{CPU_SCORING_READER} no longer decides by {name}"
    if problem is not None:
        raise _incompatible([problem])

    def compact_positions(device: Any) -> bool:
        return device.type == "cpu" or original(device)

    compact_positions._medix_cpu_compact = True  # type: ignore[attr-defined]
    compact_positions.__wrapped__ = original  # type: ignore[attr-defined]  # TRL's own switch
    trl_utils._use_triton = compact_positions
    return True


def _inverse_cdf_multinomial(original: Any) -> Any:
    """``torch.multinomial`` with a fast path for what ``generate`` asks on a CPU: one draw per row.

    PyTorch's CPU kernel draws one exponential variate per vocabulary entry for every sampled token
    (49k of them per row for the tiny model): measured at ~65 ms of a 64-row decoding step, more than
    the whole model forward. Inverse-CDF sampling (a float64 cumulative sum, one uniform per row, a
    binary search) draws from exactly the same categorical distribution with one variate per row.
    Every other call (CUDA tensors, several draws, ``out=``) goes to the original.
    """
    import torch

    def multinomial(
        input: Any, num_samples: int, replacement: bool = False, *, generator: Any = None, out: Any = None
    ) -> Any:
        if input.device.type != "cpu" or input.dim() != 2 or num_samples != 1 or out is not None:
            return original(input, num_samples, replacement, generator=generator, out=out)
        cdf = input.double().cumsum(-1)
        u = torch.rand(input.size(0), 1, dtype=torch.float64, generator=generator) * cdf[:, -1:]
        # First index whose cumulative mass exceeds u: never a zero-probability entry.
        return torch.searchsorted(cdf, u, right=True).clamp_(max=input.size(-1) - 1)

    multinomial._medix_inverse_cdf = True  # type: ignore[attr-defined]
    return multinomial


@contextlib.contextmanager
def cpu_categorical_sampling() -> Iterator[None]:
    """While active, ``torch.multinomial`` draws single samples per row by inverse CDF (see
    :func:`_inverse_cdf_multinomial`); the trainer wraps its CPU generation in it."""
    import torch

    original = torch.multinomial
    if getattr(original, "_medix_inverse_cdf", False):
        yield
        return
    torch.multinomial = _inverse_cdf_multinomial(original)
    try:
        yield
    finally:
        torch.multinomial = original


def save_checkpoint_now(trainer: Any) -> Any:
    """Save a resumable checkpoint of the current state (after the last completed step); its folder."""
    from pathlib import Path

    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    trainer._save_checkpoint(trainer.model, trial=None)
    return Path(trainer.args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{trainer.state.global_step}"


def trainer_class() -> type:
    """:class:`MedixGRPOTrainer`, defined lazily so importing this module does not import TRL;
    raises :class:`TrlCompatError` first when TRL lacks a method it overrides (:func:`check_trl`)."""
    global _TRAINER_CLASS
    if _TRAINER_CLASS is not None:
        return _TRAINER_CLASS
    check_trl()
    import torch
    from trl import GRPOTrainer

    from medix_r1.integrations.trl import combine_rewards

    class MedixGRPOTrainer(GRPOTrainer):
        """TRL's GRPOTrainer plus DAPO dynamic filtering, reward/generation timing and judge health."""

        def __init__(
            self, *args: Any, dynamic_filter: Any = None, composite: Any = None, **kwargs: Any
        ) -> None:
            super().__init__(*args, **kwargs)
            check_trainer_attributes(self)
            self.dynamic_filter = dynamic_filter
            self.composite = composite
            self._timing: dict[str, float] = defaultdict(float)
            self._last_rewards: torch.Tensor | None = None
            self._judge_seen: dict[str, float] = {}

        def _save(self, output_dir: str | None = None, state_dict: Any = None) -> None:
            # Image-only Qwen-VL processors (no torchvision) cannot go through ProcessorMixin.save_pretrained.
            from medix_r1.models.processor import save_processor

            processor = self.processing_class
            self.processing_class = None
            try:
                super()._save(output_dir, state_dict)
            finally:
                self.processing_class = processor
            if processor is not None and self.args.should_save:
                save_processor(processor, output_dir or self.args.output_dir)

        def _generate(self, prompts: list) -> Any:
            started = time.perf_counter()
            sampling = (
                cpu_categorical_sampling()
                if self.accelerator.device.type == "cpu" and not self.use_vllm
                else contextlib.nullcontext()
            )
            try:
                with sampling:
                    return super()._generate(prompts)
            finally:
                self._timing["generation_s"] += time.perf_counter() - started

        def _calculate_rewards(
            self, inputs: Any, prompts: Any, completions: Any, completion_ids_list: Any
        ) -> Any:
            started = time.perf_counter()
            try:
                rewards_per_func = super()._calculate_rewards(
                    inputs, prompts, completions, completion_ids_list
                )
            finally:
                self._timing["reward_s"] += time.perf_counter() - started
            self._last_rewards = combine_rewards(self.composite, rewards_per_func, self.reward_func_names)
            return rewards_per_func

        def _judge_metrics(self) -> dict[str, float]:
            if self.composite is None:
                return {}
            try:
                judge = self.composite.component("accuracy_llm").judge
            except (KeyError, AttributeError):
                return {}
            stats = judge.stats.as_dict()
            d_req = stats["requests"] - self._judge_seen.get("requests", 0)
            d_lat = stats["latency_s"] - self._judge_seen.get("latency_s", 0.0)
            self._judge_seen = stats
            return {"judge/latency_ms": 1000 * d_lat / d_req if d_req else 0.0}

        def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
            mode = "train" if self.model.training else "eval"
            self._timing.clear()
            score = super()._generate_and_score_completions
            if self.dynamic_filter is not None and mode == "train":
                output, stats = self.dynamic_filter(inputs, score, lambda: self._last_rewards)
                mask = output["completion_mask"]
                if "tool_mask" in output:
                    mask = mask * output["tool_mask"]
                output["num_items_in_batch"] = self.accelerator.gather(mask.sum()).sum()
                for key, value in stats.as_metrics().items():
                    self._metrics[mode][key].append(value)
            else:
                output = score(inputs)
            self._metrics[mode]["timing/generation_s"].append(self._timing["generation_s"])
            self._metrics[mode]["timing/reward_s"].append(self._timing["reward_s"])
            for key, value in self._judge_metrics().items():
                self._metrics[mode][key].append(value)
            return output

    _TRAINER_CLASS = MedixGRPOTrainer
    return MedixGRPOTrainer


_TRAINER_CLASS: type | None = None
