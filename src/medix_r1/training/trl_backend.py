"""The single-node backend: TRL's ``GRPOTrainer`` with the composite reward (``medix-r1 train CONFIG``).

:func:`train_trl` builds everything from a :class:`~medix_r1.training.config.TrainConfig` and runs:

1. records -> a ``datasets.Dataset`` of prompts (our MediX instruction), images, ``solution`` and
   ``modality`` columns (:mod:`medix_r1.training.dataset`); over-long prompts are dropped;
2. the policy and processor through :func:`medix_r1.models.load_policy` (built-ins, folders, hub ids),
   optionally with a frozen vision tower or LoRA adapters;
3. the reward functions and weights from :func:`medix_r1.integrations.trl.trl_reward_funcs` (TRL logs
   ``rewards/<component>/mean``; weights may be overridden per config);
4. ``GRPOConfig`` from the config (:func:`grpo_args`): loss type, clip range, KL, GSPO's
   sequence-level ratio, group size, sampling, batch arithmetic, vLLM when asked;
5. :class:`~medix_r1.training.trl_compat.MedixGRPOTrainer`: TRL's trainer plus DAPO's dynamic
   filtering (:mod:`medix_r1.training.dapo`), timing of generation vs reward, and judge health
   metrics; every use of TRL's private API lives in :mod:`medix_r1.training.trl_compat`;
6. ``trainer.train()`` with resume; a judge outage stops the run with a resumable checkpoint and
   a message naming the judge (it is never scored as zeros); the end writes ``reward_curves.png``
   and ``report.md``.

The run folder holds ``config.yaml``, ``metrics.jsonl``, ``alarms.jsonl``, ``checkpoint-N/``,
``final/`` (the trained policy, loadable by ``medix-r1 chat --model``), ``reward_curves.png``,
``report.md``, ``summary.json``, and with a warm-start ``warmstart/`` (the policy as RL starts, which
is also the KL reference: :func:`set_reference`).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medix_r1.errors import MedixError
from medix_r1.judges.errors import JudgeConfigError, JudgeUnavailableError
from medix_r1.models.extras import MissingExtraError, require
from medix_r1.models.shared_images import encode_each_image_once
from medix_r1.rewards.composite import CompositeReward
from medix_r1.training.config import TrainConfig, config_to_yaml
from medix_r1.training.dataset import rl_prompts_ordered
from medix_r1.training.trl_compat import (
    cpu_categorical_sampling,
    save_checkpoint_now,
    score_completion_tokens_only_on_cpu,
    trainer_class,
)

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = [
    "TrainingStopped",
    "TrainResult",
    "build_composite",
    "grpo_args",
    "freeze_vision_tower",
    "find_resume_checkpoint",
    "make_trainer",
    "train_trl",
    "cpu_categorical_sampling",  # re-exported: it lives in trl_compat
]

logger = logging.getLogger(__name__)


class TrainingStopped(MedixError, RuntimeError):
    """The run stopped before its end (judge outage, alarm); ``checkpoint`` resumes it."""

    exit_code = 1

    def __init__(self, message: str, checkpoint: Path | None) -> None:
        self.checkpoint = checkpoint
        super().__init__(message)


@dataclass
class TrainResult:
    run_dir: Path
    final_dir: Path | None
    steps: int
    seconds: float
    metrics: list[dict[str, Any]] = field(default_factory=list)
    alarms: list[Any] = field(default_factory=list)
    judge_prompt_hash: str | None = None  # the reward judge's prompt template (summary.json)


def build_composite(config: TrainConfig) -> CompositeReward:
    """The composite reward of a config, with its weight overrides applied."""
    from medix_r1.rewards.config import build_reward_from_config

    return build_reward_from_config(config.reward.reward_config())  # weights live on RewardConfig


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def set_cpu_threads(config: TrainConfig) -> int | None:
    """Apply ``optim.cpu_threads`` when training on a CPU; returns the thread count set (None: left as is)."""
    threads = config.optim.cpu_threads
    if threads is None or _has_cuda():
        return None
    import torch

    torch.set_num_threads(threads)
    return threads


def grpo_args(config: TrainConfig, reward_weights: list[float], *, world_size: int = 1) -> Any:
    """TRL's ``GRPOConfig`` for a training config (the batch arithmetic is explained in OptimSection)."""
    from trl import GRPOConfig

    config.check_batches(world_size)
    alg, roll, opt = config.algorithm, config.rollout, config.optim
    accumulation = config.gradient_accumulation(world_size)
    updates = opt.updates_per_step
    cuda = _has_cuda()
    kwargs: dict[str, Any] = {
        "output_dir": str(config.output_dir),
        "per_device_train_batch_size": opt.micro_batch_size,
        "gradient_accumulation_steps": accumulation,
        "steps_per_generation": accumulation * updates,
        "num_generations": roll.group_size,
        "max_completion_length": roll.max_completion_length,
        "temperature": roll.temperature,
        "top_p": roll.top_p,
        "top_k": roll.top_k,
        "learning_rate": opt.learning_rate,
        "lr_scheduler_type": opt.lr_scheduler,
        "warmup_steps": opt.warmup_ratio,  # transformers 5: a float below 1 is a ratio of all steps
        "weight_decay": opt.weight_decay,
        "max_grad_norm": opt.max_grad_norm,
        "seed": config.schedule.seed,
        # Balanced-then-as-found prompts (data.balance_steps) are already in the order they must be used.
        "shuffle_dataset": not rl_prompts_ordered(config),
        "data_seed": config.data.seed,
        "beta": alg.beta,
        "epsilon": alg.epsilon,
        "epsilon_high": alg.epsilon_high if alg.epsilon_high is not None else alg.epsilon,
        "loss_type": alg.resolved_loss_type(),
        "importance_sampling_level": alg.resolved_sampling_level(),
        "scale_rewards": alg.resolved_scale_rewards(),
        "mask_truncated_completions": alg.mask_truncated_completions,
        "reward_weights": reward_weights,
        "logging_steps": updates,  # one metrics row per RL step (one generation, `updates` optimiser updates)
        "save_strategy": "steps" if config.checkpoint.save_every else "no",
        "save_steps": max(1, config.checkpoint.save_every * updates),
        "save_total_limit": config.checkpoint.save_limit,
        "report_to": list(config.logging.report_to) or "none",
        "run_name": config.name,
        "bf16": cuda if opt.bf16 is None else opt.bf16,
        "use_cpu": not cuda,
        "gradient_checkpointing": config.model.gradient_checkpointing,
        "log_completions": config.logging.log_completions,
        "disable_tqdm": True,  # our MetricsCallback draws the progress bar and the per-step line
        "remove_unused_columns": False,
        "dataloader_num_workers": 0,
    }
    if config.schedule.max_steps is not None:
        kwargs["max_steps"] = config.schedule.max_steps * updates
    else:
        kwargs["num_train_epochs"] = config.schedule.epochs
    if config.data.eval and config.validation.every:
        kwargs["eval_strategy"] = "steps"
        kwargs["eval_steps"] = config.validation.every * updates
        kwargs["per_device_eval_batch_size"] = roll.group_size * max(
            1, opt.micro_batch_size // roll.group_size
        )
    if roll.engine == "vllm":
        if importlib.util.find_spec("vllm") is None:
            raise MissingExtraError(
                "rollout.engine=vllm needs the Python package 'vllm', which is not installed. "
                "Install it with: pip install 'medix-r1[gpu]' (CUDA only), or set rollout.engine=hf"
            )
        kwargs.update(
            use_vllm=True,
            vllm_mode=roll.vllm_mode,
            vllm_gpu_memory_utilization=roll.vllm_gpu_memory_utilization,
            vllm_tensor_parallel_size=roll.vllm_tensor_parallel_size,
        )
        if roll.vllm_mode == "server":
            kwargs["vllm_server_base_url"] = roll.vllm_server_url
    return GRPOConfig(**kwargs)


def freeze_vision_tower(model: Any) -> int:
    """Stop gradients into the vision encoder (``visual`` / ``vision_tower``); returns parameters frozen."""
    frozen = 0
    for name, module in model.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        if leaf in ("visual", "vision_tower", "vision_model"):
            for p in module.parameters():
                if p.requires_grad:
                    p.requires_grad_(False)
                    frozen += p.numel()
    if not frozen:
        raise ValueError(
            f"model.freeze_vision_tower is set, but {type(model).__name__} has no 'visual' / 'vision_tower' "
            "module; set model.freeze_vision_tower=false"
        )
    return frozen


def find_resume_checkpoint(config: TrainConfig) -> Path | None:
    """The checkpoint to resume from: ``checkpoint.resume`` = auto / none / a folder."""
    choice = config.checkpoint.resume
    if choice in ("none", "no", "false", ""):
        return None
    if choice == "auto":
        from transformers.trainer_utils import get_last_checkpoint

        if not config.output_dir.is_dir():
            return None
        last = get_last_checkpoint(str(config.output_dir))
        return Path(last) if last else None
    path = Path(choice)
    if not (path / "trainer_state.json").is_file():
        raise FileNotFoundError(
            f"checkpoint.resume={choice!r} is not a checkpoint folder (no trainer_state.json there); "
            f"use 'auto', 'none', or a {config.output_dir}/checkpoint-N folder"
        )
    return path


def _filter_overlong(dataset: Dataset, processor: Any, limit: int) -> Dataset:
    """Drop rows whose prompt (text + image tokens) exceeds ``rollout.max_prompt_length``."""
    from medix_r1.models.generation import row_prompt

    def length(row: dict[str, Any]) -> int:
        text, images = row_prompt(processor, row)
        enc = processor(text=[text], images=images or None, return_tensors="pt", add_special_tokens=False)
        return int(enc["input_ids"].shape[1])

    keep = [i for i in range(len(dataset)) if length(dataset[i]) <= limit]
    if len(keep) < len(dataset):
        logger.warning(
            "dropped %d of %d records longer than rollout.max_prompt_length=%d tokens",
            len(dataset) - len(keep),
            len(dataset),
            limit,
        )
    if not keep:
        raise ValueError(
            f"every record's prompt is longer than rollout.max_prompt_length={limit} tokens; raise it or lower "
            "model.max_pixels / data.image_max_side"
        )
    return dataset.select(keep) if len(keep) < len(dataset) else dataset


def make_trainer(
    config: TrainConfig,
    *,
    model: Any = None,
    processor: Any = None,
    train_dataset: Dataset | None = None,
    composite: CompositeReward | None = None,
    callbacks: list[Any] | None = None,
) -> tuple[Any, Any]:
    """Build ``(trainer, metrics_callback)`` for a config; parts may be passed in (tests, quickstart)."""
    require("trl", "training with the TRL backend")
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from medix_r1.integrations.trl import trl_reward_funcs
    from medix_r1.models import load_policy
    from medix_r1.training.alarms import AlarmMonitor
    from medix_r1.training.callbacks import MetricsCallback
    from medix_r1.training.dapo import DynamicFilter, PromptRefill
    from medix_r1.training.dataset import (
        build_rl_dataset,
        load_training_records,
        rl_prompt_options,
        rl_prompt_records,
    )

    world_size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if composite is None:
        composite = build_composite(config)
    fmt = composite.fmt
    if model is None or processor is None:
        model, processor = load_policy(
            config.model.name,
            dtype=config.model.dtype,
            device="cpu",  # accelerate moves it to the training device
            attn_implementation=config.model.attn_implementation,
            min_pixels=config.model.min_pixels,
            max_pixels=config.model.max_pixels,
        )
        if config.model.single_token_tags:
            from medix_r1.models.tokenizer import add_tag_tokens

            add_tag_tokens(model, processor, seed=config.schedule.seed)
    if getattr(processor, "image_processor", None) is None:
        raise ValueError(
            f"model {config.model.name!r} has no image processor: MediX-R1 trains vision-language models "
            "(use a Qwen-VL model, a built-in such as tiny-qwen2-vl, or a saved VLM folder)"
        )
    if config.model.freeze_vision_tower:
        frozen = freeze_vision_tower(model)
        logger.info("froze %d vision-tower parameters", frozen)
    if train_dataset is None:
        records = load_training_records(
            config.data.train,
            split=config.data.train_split,
            limit=config.data.max_train_records,
            seed=config.data.seed,
        )
        records = rl_prompt_records(records, **rl_prompt_options(config))
        train_dataset = build_rl_dataset(
            records,
            fmt,
            template=config.prompt.template,
            system=config.prompt.system,
            image_max_side=config.data.image_max_side,
        )
        train_dataset = _filter_overlong(train_dataset, processor, config.rollout.max_prompt_length)
    eval_dataset = None
    if config.data.eval and config.validation.every:
        eval_records = load_training_records(
            config.data.eval,
            split=config.data.eval_split,
            limit=config.data.max_eval_records,
            seed=config.data.seed,
        )
        eval_dataset = build_rl_dataset(
            eval_records,
            fmt,
            template=config.prompt.template,
            system=config.prompt.system,
            image_max_side=config.data.image_max_side,
        )
    funcs, weights = trl_reward_funcs(composite)
    args = grpo_args(config, weights, world_size=world_size)
    peft_config = None
    if config.model.lora.enabled:
        require("peft", "LoRA training (model.lora.enabled)")
        from peft import LoraConfig

        lora = config.model.lora
        peft_config = LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=lora.target_modules,
            task_type="CAUSAL_LM",
        )
    dynamic_filter = None
    alg = config.algorithm
    if alg.name == "dapo" and alg.dynamic_filtering:
        if world_size > 1:
            raise ValueError(
                "algorithm.dynamic_filtering in the TRL backend runs in one process (refills would differ "
                "between ranks); set algorithm.dynamic_filtering=false, or use --backend verl for many GPUs"
            )
        dynamic_filter = DynamicFilter(
            group_size=config.rollout.group_size,
            low=alg.filter_low,
            high=alg.filter_high,
            refill_prompts=alg.filter_refill_prompts or config.rollout.prompts_per_step,
            max_tries=alg.filter_max_tries,
            refill=PromptRefill(train_dataset, seed=config.data.seed + 1),
        )
    run_dir = config.output_dir
    monitor = AlarmMonitor.from_config(config.logging.alarms) if config.logging.alarms.enabled else None
    metrics_cb = MetricsCallback(
        run_dir,
        monitor=monitor,
        console=config.logging.console,
        stop_on_alarm=config.logging.alarms.stop_on_alarm,
        updates_per_step=config.optim.updates_per_step,
    )
    if not _has_cuda():
        score_completion_tokens_only_on_cpu()
    trainer_cls = trainer_class()
    trainer = trainer_cls(
        model=model,
        reward_funcs=funcs,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=processor,
        peft_config=peft_config,
        callbacks=[metrics_cb, *(callbacks or [])],
        dynamic_filter=dynamic_filter,
        composite=composite,
    )
    # GRPO repeats each prompt's image group_size times; the vision tower encodes each once.
    for module in (trainer.model, getattr(trainer, "ref_model", None)):
        if module is not None:
            encode_each_image_once(module)
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if config.model.single_token_tags:
        # TRL built the KL reference from the model's path, without the added tag rows: start it
        # from the policy as it is now (the same weights plus those rows).
        set_reference(trainer, model)
    return trainer, metrics_cb


def set_reference(trainer: Any, source: Any) -> bool:
    """Make ``source`` (a model or a saved model folder) the trainer's KL reference; False without one.

    TRL builds the reference (``algorithm.beta`` > 0) from the policy's path before training starts.
    After a warm-start the policy has moved on from that path, so the reference must follow it: the
    KL term then holds RL near the warm-started policy, not near the untrained one.
    """
    ref = getattr(trainer, "ref_model", None)
    if ref is None:
        return False
    import torch

    ref = trainer.accelerator.unwrap_model(ref)
    if isinstance(source, (str, os.PathLike)):
        model = type(ref).from_pretrained(str(source), dtype=next(ref.parameters()).dtype)
    else:
        model = trainer.accelerator.unwrap_model(source)
    state = model.state_dict()
    rows = model.get_input_embeddings().weight.shape[0]
    if ref.get_input_embeddings().weight.shape[0] != rows:
        # The policy's vocabulary grew after TRL built the reference (model.single_token_tags).
        ref.resize_token_embeddings(rows, mean_resizing=False)
    with torch.no_grad():
        ref.load_state_dict(state)
    ref.eval()
    return True


def train_trl(
    config: TrainConfig, *, write_outputs: bool = True, warmstart: bool = True, **parts: Any
) -> TrainResult:
    """Run a whole TRL training (see module docstring). ``parts`` go to :func:`make_trainer`;
    ``write_outputs=False`` leaves summary, plot and report to the caller (the quickstart), and
    ``warmstart=False`` skips ``config.warmstart`` (a caller that already ran it)."""
    from medix_r1.training.callbacks import read_metrics, truncate_metrics

    run_dir = config.output_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    resume = find_resume_checkpoint(config)
    metrics_path = run_dir / "metrics.jsonl"
    if resume is not None:
        state = json.loads((resume / "trainer_state.json").read_text(encoding="utf-8"))
        truncate_metrics(metrics_path, int(state.get("global_step", 0)) // config.optim.updates_per_step)
        logger.info("resuming from %s", resume)
    else:
        metrics_path.unlink(missing_ok=True)
        (run_dir / "alarms.jsonl").unlink(missing_ok=True)
    (run_dir / "config.yaml").write_text(config_to_yaml(config), encoding="utf-8")
    set_cpu_threads(config)
    trainer, metrics_cb = make_trainer(config, **parts)
    warm_dir = run_dir / "warmstart"
    if warmstart and config.warmstart.enabled and resume is None:
        from medix_r1.models import save_policy
        from medix_r1.training.warmstart import run_configured_warmstart

        run_configured_warmstart(
            trainer.model,
            trainer.processing_class,
            [dict(row) for row in trainer.train_dataset],
            parts.get("composite", trainer.composite).fmt,
            config.warmstart,
            seed=config.data.seed,
            progress=config.logging.console,
        )
        # Kept so that a resumed run gets the same KL reference (the warm-start is not re-run then).
        save_policy(trainer.model, trainer.processing_class, warm_dir)
        set_reference(trainer, trainer.model)
        trainer.model.train()
    elif config.warmstart.enabled and config.algorithm.beta > 0:
        # A resumed run, or a caller that ran the warm-start itself (the quickstart) and saved it here.
        if not (warm_dir / "config.json").is_file():
            raise TrainingStopped(
                f"cannot train {run_dir} with algorithm.beta={config.algorithm.beta}: the KL reference is the "
                f"warm-started policy, saved in {warm_dir}, and that folder is missing. Start a fresh run "
                "(checkpoint.resume=none) or set warmstart.enabled=false",
                resume,
            )
        set_reference(trainer, warm_dir)
    started = time.perf_counter()
    try:
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    except (JudgeUnavailableError, JudgeConfigError) as err:
        checkpoint = save_checkpoint_now(trainer)
        raise TrainingStopped(
            f"training stopped at step {trainer.state.global_step // config.optim.updates_per_step}: {err}\n"
            f"No step was trained on missing judge scores. A resumable checkpoint is at {checkpoint}; once the "
            f"judge is back, run the same command again (checkpoint.resume=auto picks it up), or set "
            f"reward.on_judge_error=skip to leave the judge component unscored instead of stopping.",
            checkpoint,
        ) from err
    seconds = time.perf_counter() - started
    final_dir = run_dir / "final"
    trainer.save_model(str(final_dir))
    rows = read_metrics(metrics_path)
    steps = trainer.state.global_step // config.optim.updates_per_step
    result = TrainResult(
        run_dir, final_dir, steps, seconds, rows, metrics_cb.alarms, trainer.composite.judge_prompt_hash
    )
    if write_outputs:
        from medix_r1.training.report import write_run_outputs

        write_run_outputs(config, result)
    return result
