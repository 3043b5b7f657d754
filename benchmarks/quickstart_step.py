"""Where the time of one quickstart RL step goes, before and after issue 16, measured in one run.

    python benchmarks/quickstart_step.py [--steps 4] [--warmstart-steps 60] [--variants before,after]

Each variant is the ``quickstart`` preset with some overrides: ``before`` restores the step the
quickstart had before issue 16 (the tiny model with the full 49k-token vocabulary, tags of 3-6
tokens, 40-token replies, micro-batches of 16) and PyTorch's multinomial sampling;
``before+sampling`` is the same with inverse-CDF sampling (what the trainer now does on a CPU);
``after`` is the preset as it is (``tiny-qwen2-vl-samples``, whose vocabulary is trimmed to the
bundled samples, one-token tags, 32-token replies, one micro-batch of 64, each distinct image of a
step encoded once, one PyTorch thread); ``after-every-copy`` is ``after`` with the vision tower
encoding all ``group_size`` copies of each image, as before; ``after-all-cores`` is ``after`` with
PyTorch's default thread count (one per core, as before). For each, the script builds
the tiny policy, runs a short format warm-start (random tags, as the quickstart does, so replies
have their trained length), then runs ``--steps`` real RL steps through TRL's GRPOTrainer
(:func:`medix_r1.training.trl_backend.make_trainer`, the same trainer the quickstart uses) and
times each phase by wrapping the call that does it:

  image processing  the image processor (TRL prepares the images of every prompt of the step)
  generation        ``model.generate`` (sampling the group of replies), image processing excluded
  reward            TRL's ``_calculate_rewards`` (the composite reward: judge, MiniLM, format, modality)
  log-probs         ``_get_per_token_logps_and_entropies`` (the policy forward of the loss; and the
                    old / reference log-probs when the config needs them)
  backward          ``accelerator.backward``
  optimiser         ``optimizer.step``
  TRL bookkeeping   the rest of the step (tokenising prompts, padding, advantages, metrics, ...)

The first step of each variant is a warm-up and is left out of the means. The machine may be shared:
compare the ratios printed at the end (measured in this run), not the seconds with other runs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import defaultdict
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

#: The quickstart's step as it was before issue 16: the full 49k-token vocabulary, tags of 3-6
#: tokens, 40-token replies, micro-batches of 16; ``before`` also samples with PyTorch's multinomial.
BEFORE = [
    "model.name=tiny-qwen2-vl",
    "model.single_token_tags=false",
    "data.balance_modalities=false",
    "rollout.max_completion_length=40",
    "rollout.group_size=8",
    "rollout.prompts_per_step=8",
    "optim.micro_batch_size=16",
    "warmstart.reasoning=I look at the image.",
    "optim.cpu_threads=null",
]
#: ``after`` is the ``quickstart`` preset as it is (the vocabulary trimmed to the samples, one-token
#: tags, 32-token replies, one micro-batch of 64, inverse-CDF sampling).
VARIANTS: dict[str, list[str]] = {
    "before": BEFORE,
    "before+sampling": BEFORE,
    "after-every-copy": [],
    "after-all-cores": ["optim.cpu_threads=null"],
    "after": [],
}
#: Variants that generate with PyTorch's multinomial kernel (as before issue 16), not inverse CDF.
TORCH_SAMPLING = {"before"}
#: Variants whose vision tower encodes every copy of a prompt's image (group_size copies per step),
#: as before issue 16; the others encode each distinct image once (medix_r1.models.shared_images).
EVERY_COPY = {"before", "before+sampling", "after-every-copy"}
_FAST_SAMPLING: Any = None
#: PyTorch's thread count when the script started (one per core, or OMP_NUM_THREADS): what a variant
#: whose config leaves optim.cpu_threads unset runs with.
_DEFAULT_THREADS = 1
PHASES = ("image processing", "generation", "reward", "log-probs", "backward", "optimiser", "TRL bookkeeping")


class PhaseTimer:
    """Accumulates wall time per phase; nested phases are subtracted from their parents."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self._stack: list[list[Any]] = []

    def wrap(self, obj: Any, attr: str, phase: str) -> None:
        original = getattr(obj, attr)
        timer = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            frame = [phase, time.perf_counter(), 0.0]  # name, start, time spent in nested phases
            timer._stack.append(frame)
            try:
                return original(*args, **kwargs)
            finally:
                timer._stack.pop()
                spent = time.perf_counter() - frame[1]
                timer.totals[phase] += spent - frame[2]
                if timer._stack:
                    timer._stack[-1][2] += spent

        setattr(obj, attr, timed)


def run_variant(
    name: str, overrides: list[str], *, steps: int, warmstart_steps: int, profile: bool = False
) -> dict[str, Any]:
    import torch
    from transformers import TrainerCallback

    from medix_r1.models import load_policy
    from medix_r1.training.config import apply_overrides
    from medix_r1.training.dataset import build_rl_dataset, load_training_records
    from medix_r1.training.presets import get_preset
    from medix_r1.training.trl_backend import build_composite, make_trainer
    from medix_r1.training.warmstart import run_configured_warmstart

    torch.manual_seed(0)
    out = tempfile.mkdtemp(prefix=f"qs-step-{name}-")
    config = apply_overrides(
        get_preset("quickstart"),
        [
            *overrides,
            f"checkpoint.output_dir={out}",
            f"schedule.max_steps={steps}",
            f"warmstart.steps={warmstart_steps}",
            "logging.console=false",
        ],
    )
    threads = config.optim.cpu_threads or _DEFAULT_THREADS
    torch.set_num_threads(threads)
    composite = build_composite(config)
    records = load_training_records(config.data.train, seed=config.data.seed)
    dataset = build_rl_dataset(
        records,
        composite.fmt,
        template=config.prompt.template,
        system=config.prompt.system,
        image_max_side=config.data.image_max_side,
    )
    model, processor = load_policy(
        config.model.name,
        dtype="float32",
        device="cpu",
        min_pixels=config.model.min_pixels,
        max_pixels=config.model.max_pixels,
    )
    if config.model.single_token_tags:
        from medix_r1.models.tokenizer import add_tag_tokens

        add_tag_tokens(model, processor, seed=config.schedule.seed)
    run_configured_warmstart(
        model, processor, [dict(r) for r in dataset], composite.fmt, config.warmstart, seed=0, progress=False
    )
    model.train()
    trainer, _ = make_trainer(
        config, model=model, processor=processor, train_dataset=dataset, composite=composite
    )
    if name in EVERY_COPY:
        from medix_r1.models.shared_images import encode_every_copy

        encode_every_copy(trainer.model)

    timer = PhaseTimer()
    step_times: list[float] = []
    phase_rows: list[dict[str, float]] = []
    lengths: list[float] = []

    class StepClock(TrainerCallback):
        profiler: Any = None

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if profile and state.global_step == 1:  # the second step: after the warm-up
                self.profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
                self.profiler.__enter__()
            self.started = time.perf_counter()
            timer.totals.clear()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            step_times.append(time.perf_counter() - self.started)
            phase_rows.append(dict(timer.totals))
            if self.profiler is not None:
                self.profiler.__exit__(None, None, None)
                print(f"torch profile of one step ({name}):")
                print(self.profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
                self.profiler = None

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if logs and "completions/mean_length" in logs:
                lengths.append(float(logs["completions/mean_length"]))

    trainer.add_callback(StepClock())
    if name in TORCH_SAMPLING:  # MedixGRPOTrainer._generate looks the context manager up at call time
        import contextlib

        from medix_r1.training import trl_compat

        trl_compat.cpu_categorical_sampling = contextlib.nullcontext
    image_processor = processor.image_processor
    timer.wrap(image_processor, "__call__", "image processing")
    timer.wrap(image_processor, "preprocess", "image processing")
    timer.wrap(model, "generate", "generation")
    timer.wrap(trainer, "_calculate_rewards", "reward")
    timer.wrap(trainer, "_get_per_token_logps_and_entropies", "log-probs")
    timer.wrap(trainer.accelerator, "backward", "backward")
    trainer.create_optimizer()
    timer.wrap(trainer.optimizer, "step", "optimiser")
    try:
        trainer.train()
    finally:
        from medix_r1.training import trl_compat

        trl_compat.cpu_categorical_sampling = _FAST_SAMPLING

    keep = slice(1, None) if len(step_times) > 1 else slice(None)
    kept_steps, kept_phases = step_times[keep], phase_rows[keep]
    step_s = sum(kept_steps) / len(kept_steps)
    phases = {p: sum(row.get(p, 0.0) for row in kept_phases) / len(kept_phases) for p in PHASES[:-1]}
    phases["TRL bookkeeping"] = max(0.0, step_s - sum(phases.values()))
    roll = config.rollout
    vocab = len(getattr(processor, "tokenizer", processor))
    return {
        "name": name,
        "step_s": step_s,
        "phases": phases,
        "completions": roll.group_size * roll.prompts_per_step,
        "mean_length": sum(lengths[keep]) / max(1, len(lengths[keep])) if lengths else float("nan"),
        "settings": (
            f"{config.model.name} ({vocab} tokens), {roll.prompts_per_step}x{roll.group_size}, "
            f"max {roll.max_completion_length} tokens, "
            f"micro-batch {config.optim.micro_batch_size}, single-token tags {config.model.single_token_tags}, "
            f"{threads} thread(s), "
            f"{'torch multinomial' if name in TORCH_SAMPLING else 'inverse-CDF'} sampling, "
            f"{'every copy' if name in EVERY_COPY else 'each distinct image once'} through the vision tower"
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=4, help="RL steps per variant (the first is a warm-up)")
    parser.add_argument("--warmstart-steps", type=int, default=60)
    parser.add_argument("--profile", action="store_true", help="also print torch's op profile of one step")
    parser.add_argument(
        "--variants", default="before,after", help=f"comma-separated, from {', '.join(VARIANTS)}"
    )
    args = parser.parse_args()

    import torch

    from medix_r1.training import trl_compat

    global _FAST_SAMPLING, _DEFAULT_THREADS
    _FAST_SAMPLING = trl_compat.cpu_categorical_sampling
    _DEFAULT_THREADS = torch.get_num_threads()
    results = [
        run_variant(
            v, VARIANTS[v], steps=args.steps, warmstart_steps=args.warmstart_steps, profile=args.profile
        )
        for v in args.variants.split(",")
        if v.strip()
    ]
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(
        f"quickstart RL step, {args.steps - 1} timed steps per variant (after 1 warm-up); "
        f"{os.cpu_count()} CPUs, load average {load[0]:.1f}"
        if load
        else ""
    )
    for r in results:
        print(
            f"- {r['name']}: {r['settings']}; {r['completions']} replies, mean length {r['mean_length']:.1f}"
        )
    head = "| phase | " + " | ".join(f"{r['name']} s" for r in results) + " |"
    print(head)
    print("|---" * (len(results) + 1) + "|")
    for phase in PHASES:
        cells = " | ".join(
            f"{r['phases'][phase]:.3f} ({r['phases'][phase] / r['step_s']:.0%})" for r in results
        )
        print(f"| {phase} | {cells} |")
    print("| **step** | " + " | ".join(f"**{r['step_s']:.3f}**" for r in results) + " |")
    if len(results) > 1:
        base = results[0]
        for r in results[1:]:
            print(f"{base['name']} / {r['name']}: step {base['step_s'] / r['step_s']:.2f}x")
            for phase in PHASES:
                if r["phases"][phase] > 1e-4:
                    print(f"  {phase}: {base['phases'][phase] / r['phases'][phase]:.2f}x")


if __name__ == "__main__":
    main()
