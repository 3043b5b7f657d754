"""``medix-r1 quickstart --out DIR`` (what ``make demo`` runs): train a tiny VLM with the composite
reward on the bundled samples, fully offline on a CPU, and show that it learns.

Phases (each with a progress bar):

1. the bundled sample set (real medical images from registry packages, ~366 train / 92 held-out
   records, 7 modality tags) and a fresh tiny random Qwen2-VL (6.6 M parameters);
2. held-out check of the untrained model;
3. a short supervised warm-start on the output format, with modality tags drawn at random
   (:mod:`medix_r1.training.warmstart`: the format is taught, the tag-to-image mapping is not);
4. held-out check of the warm-started model (the start of RL);
5. RL with TRL's GRPOTrainer, DAPO loss and dynamic filtering, the composite reward with the offline
   fake judge and MiniLM, modality weight raised (the ``quickstart`` preset says how it differs);
6. held-out check after RL; ``metrics.jsonl``, ``reward_curves.png``, ``report.md``, ``summary.json``.

``summary.json`` has ``steps``, ``seconds``, ``reward_first`` / ``reward_last`` (mean overall reward
of the first / last 10% of RL steps), ``heldout_before`` (the untrained model), ``heldout_warmstart``
and ``heldout_after``, each with ``modality`` and ``answer`` accuracy, ``heldout_majority`` (the
held-out share of the most common tag: what naming one tag for every image scores), ``train_after``
(``modality`` and ``answer`` accuracy of greedy replies on the training records after RL),
``peak_memory_mb`` and the share of step time spent in the reward.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medix_r1.training.config import TrainConfig, apply_overrides

__all__ = ["quickstart", "peak_memory_mb", "QUICKSTART_TARGETS"]

#: What `make demo` must reach on a 2-core CPU (issue 16): held-out greedy modality accuracy at least
#: 0.55 and 0.15 above the held-out share of the majority tag; greedy modality accuracy on the
#: training records at least 0.7.
QUICKSTART_TARGETS = {
    "max_seconds": 15 * 60,
    "max_peak_memory_mb": 6 * 1024,
    "min_reward_rise": 0.15,
    "min_modality_after": 0.55,
    "min_modality_above_majority": 0.15,
    "min_train_modality_after": 0.7,
}


def peak_memory_mb() -> float:
    """Peak resident memory of this process and its finished children, in MB (``ru_maxrss``)."""
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / (1024 * 1024)  # KB on Linux, bytes on macOS
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) * scale, 1)


def _heldout(
    model: Any, processor: Any, rows: list[dict[str, Any]], composite: Any, label: str, max_new: int
) -> dict[str, Any]:
    from medix_r1.training.heldout import evaluate_heldout

    return evaluate_heldout(
        model, processor, rows, composite, max_new_tokens=max_new, progress=f"held-out ({label})"
    )


def majority_share(rows: Sequence[dict[str, Any]]) -> float:
    """The share of ``rows`` whose modality is the most common one: what always naming one tag scores.

    >>> majority_share([{"modality": "<X_RAY>"}, {"modality": "<X_RAY>"}, {"modality": "<CT_SCAN>"}])
    0.6667
    """
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["modality"]] = counts.get(row["modality"], 0) + 1
    return round(max(counts.values()) / len(rows), 4) if rows else 0.0


def _targets_met(summary: dict[str, Any]) -> dict[str, bool]:
    t = QUICKSTART_TARGETS
    after = summary["heldout_after"]["modality"]
    rise = (summary["reward_last"] or 0) - (summary["reward_first"] or 0)
    return {
        "time": summary["seconds"] <= t["max_seconds"],
        "memory": summary["peak_memory_mb"] <= t["max_peak_memory_mb"],
        "reward_rise": rise >= t["min_reward_rise"],
        "modality_after": after >= t["min_modality_after"],
        "modality_above_majority": after - summary["heldout_majority"] >= t["min_modality_above_majority"],
        "train_modality_after": summary["train_after"]["modality"] >= t["min_train_modality_after"],
    }


def quickstart(
    out: str | os.PathLike[str],
    *,
    overrides: Sequence[str] = (),
    heldout_limit: int | None = None,
    echo: Any = print,
) -> dict[str, Any]:
    """Run the quickstart into ``out``; returns the summary (also written to ``out/summary.json``).

    ``overrides`` are ``key=value`` config overrides (tests shrink the run with them, e.g.
    ``schedule.max_steps=2 warmstart.steps=2``); ``heldout_limit`` caps the held-out records.
    """
    started = time.perf_counter()
    from medix_r1.models import load_policy
    from medix_r1.training.dataset import (
        build_rl_dataset,
        load_training_records,
        rl_prompt_options,
        rl_prompt_records,
    )
    from medix_r1.training.presets import get_preset
    from medix_r1.training.report import write_run_outputs
    from medix_r1.training.trl_backend import build_composite, set_cpu_threads, train_trl
    from medix_r1.training.warmstart import run_configured_warmstart

    out = Path(out)
    config: TrainConfig = apply_overrides(
        get_preset("quickstart"), [f"checkpoint.output_dir={out}", *overrides]
    )
    if out.exists():
        for name in ("metrics.jsonl", "alarms.jsonl", "summary.json", "report.md", "reward_curves.png"):
            (out / name).unlink(missing_ok=True)
        for sub in ("final", "warmstart"):
            shutil.rmtree(out / sub, ignore_errors=True)
        for sub in out.glob("checkpoint-*"):
            shutil.rmtree(sub, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    config = apply_overrides(config, ["checkpoint.resume=none"])
    set_cpu_threads(config)  # before any model runs: the held-out checks and the warm-start too

    echo(
        f"[1/6] sample set, tiny VLM and reward (judge: {config.reward.judge}, embedder: {config.reward.embedding_model})"
    )
    composite = build_composite(config)
    fmt = composite.fmt
    train_records = load_training_records(
        config.data.train, limit=config.data.max_train_records, seed=config.data.seed
    )
    test_records = load_training_records(
        config.data.eval or "samples:test", limit=heldout_limit, seed=config.data.seed
    )
    prompt_options = {
        "template": config.prompt.template,
        "system": config.prompt.system,
        "image_max_side": config.data.image_max_side,
    }
    train_ds = build_rl_dataset(train_records, fmt, **prompt_options)
    # RL prompts: oversampled to balance the modality tags when the config asks (the quickstart does:
    # balanced for the first data.balance_steps steps, then the records as found).
    rl_records = rl_prompt_records(train_records, **rl_prompt_options(config))
    rl_ds = (
        build_rl_dataset(rl_records, fmt, **prompt_options) if config.data.balance_modalities else train_ds
    )
    test_rows = [dict(r) for r in build_rl_dataset(test_records, fmt, **prompt_options)]
    model, processor = load_policy(
        config.model.name,
        dtype=config.model.dtype,
        device="cpu",
        min_pixels=config.model.min_pixels,
        max_pixels=config.model.max_pixels,
    )
    if config.model.single_token_tags:
        from medix_r1.models.tokenizer import add_tag_tokens

        add_tag_tokens(model, processor, seed=config.schedule.seed)
    n_params = sum(p.numel() for p in model.parameters())
    max_new = config.rollout.max_completion_length

    echo(f"[2/6] held-out check of the untrained model ({len(test_rows)} records)")
    before = _heldout(model, processor, test_rows, composite, "untrained", max_new)

    ws = config.warmstart
    warm: dict[str, Any] = {"enabled": ws.enabled}
    warm_eval = None
    if ws.enabled:
        echo(f"[3/6] supervised warm-start on the output format ({ws.steps} steps, tags {ws.tag_policy})")
        train_rows = [dict(r) for r in train_ds]
        result = run_configured_warmstart(model, processor, train_rows, fmt, ws, seed=config.data.seed)
        warm.update(
            steps=result.steps,
            seconds=round(result.seconds, 1),
            first_loss=round(result.first_loss, 4),
            last_loss=round(result.last_loss, 4),
            tag_policy=ws.tag_policy,
            tags=list(result.tags),
            reasoning=ws.reasoning,
        )
        echo("[4/6] held-out check after the warm-start (the start of RL)")
        warm_eval = _heldout(model, processor, test_rows, composite, "warm-start", max_new)
    else:
        echo("[3/6] warm-start disabled; [4/6] skipped")

    # The policy as RL starts; train_trl reads its KL reference (algorithm.beta > 0) from here.
    from medix_r1.models import save_policy

    start_dir = save_policy(model, processor, out / "warmstart")
    echo(
        f"[5/6] RL: {config.algorithm.name} on {len(rl_ds)} prompts, {config.schedule.max_steps} steps of "
        f"{config.rollout.prompts_per_step} prompts x {config.rollout.group_size} responses"
    )
    # TRL trains the module it is given in place, so `model` is the trained policy afterwards.
    run = train_trl(
        config,
        model=model,
        processor=processor,
        train_dataset=rl_ds,
        composite=composite,
        write_outputs=False,
        warmstart=False,
    )

    echo("[6/6] held-out check after RL, and the same check on the training records")
    after = _heldout(model, processor, test_rows, composite, "after RL", max_new)
    train_rows = [dict(r) for r in train_ds]
    train_after = _heldout(model, processor, train_rows, composite, "training records", max_new)
    train_after.pop("examples", None)
    seconds = time.perf_counter() - started
    extra = {
        "seconds": round(seconds, 1),
        "rl_seconds": round(run.seconds, 1),
        "peak_memory_mb": peak_memory_mb(),
        "model": config.model.name,
        "parameters": n_params,
        "heldout_before": before,
        "heldout_warmstart": warm_eval,
        "heldout_after": after,
        "heldout_majority": majority_share(test_rows),
        "train_after": train_after,
        "warmstart": warm,
        "warmstart_dir": str(start_dir),
        "final_dir": str(run.final_dir),
        "load_average": _loadavg(),
        "cpu_count": os.cpu_count(),
    }
    notes = _notes(config, before, warm_eval, after, warm, train_after, extra["heldout_majority"])
    summary = write_run_outputs(config, run, extra=extra, notes=notes)
    summary["targets_met"] = _targets_met(summary)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return None


def _notes(
    config: TrainConfig,
    before: dict[str, Any],
    warm_eval: dict[str, Any] | None,
    after: dict[str, Any],
    warm: dict[str, Any],
    train_after: dict[str, Any],
    majority: float,
) -> list[str]:
    lines = [
        "## Held-out records (greedy decoding)",
        "",
        "| model | modality tag accuracy | answer accuracy (judge) | format |",
        "|---|---|---|---|",
    ]
    lines.append(
        f"| untrained | {before['modality']:.3f} | {before['answer']:.3f} | {before['format']:.3f} |"
    )
    if warm_eval is not None:
        lines.append(
            f"| after warm-start (start of RL) | {warm_eval['modality']:.3f} | {warm_eval['answer']:.3f} | "
            f"{warm_eval['format']:.3f} |"
        )
    lines.append(f"| after RL | {after['modality']:.3f} | {after['answer']:.3f} | {after['format']:.3f} |")
    lines += [
        "",
        f"Always naming the held-out set's most common tag would score {majority:.3f} modality accuracy. "
        f"On the {train_after['n']} training records (greedy, after RL) modality accuracy is "
        f"{train_after['modality']:.3f} and answer accuracy {train_after['answer']:.3f}: the gap to the "
        "held-out row is what does not transfer to unseen views.",
        "",
    ]
    if warm.get("enabled"):
        lines += [
            "## About the warm-start",
            "",
            f"Before RL, the model was trained for {warm['steps']} supervised steps ({warm['seconds']} s, loss "
            f"{warm['first_loss']} -> {warm['last_loss']}) on replies of the form "
            "`<TAG><thinking>fixed sentence</thinking><answer>reference answer</answer>`. The published recipe "
            "has no such stage; a tiny random model cannot find the tag grammar by sampling in minutes. "
            + (
                f"The tag of every warm-start target was drawn at random from {warm['tags']}, independently of "
                "the image, so the warm-start taught the reply format and the answers in words, but not which "
                "tag fits which image: the change in modality tag accuracy between the warm-start row and the "
                "after-RL row was learned from the modality reward."
                if warm.get("tag_policy") == "random"
                else "The targets used each record's true tag, so modality recognition was partly learned by supervision."
            ),
            "",
        ]
        if "{modality}" in str(warm.get("reasoning", "")):
            lines += [
                f"The warm-start reasoning (`{warm['reasoning']}`) named each record's modality in words, so "
                "recognising the modality was taught by supervision; RL had to map it to the tag.",
                "",
            ]
    examples = after.get("examples") or []
    if examples:
        lines += ["## Sample replies after RL", ""]
        for ex in examples[:3]:
            lines.append(f"- `{ex['solution']}` -> `{ex['reply']}`")
    return lines
