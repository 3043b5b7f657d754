"""The training configuration: one YAML file, every field documented, checked up front.

A config is a preset name (``medix-r1-8b-dapo``, ``quickstart``... see :mod:`medix_r1.training.presets`),
a YAML file (which may start from a preset with ``base: <preset>``), and ``key=value`` overrides with
dotted paths, applied in that order::

    medix-r1 train medix-r1-8b-dapo rollout.group_size=8 optim.learning_rate=2e-6
    medix-r1 train my.yaml checkpoint.output_dir=runs/try2

Every field has a help text and a default taken from the published recipe (reference section 4);
cross-field checks (batch arithmetic, algorithm settings, backend extras) run once in
:meth:`TrainConfig._check`, and their messages say what to change (STYLE.md rules 9, 10).

>>> cfg = TrainConfig()
>>> cfg.algorithm.name, cfg.rollout.group_size, cfg.rollout.prompts_per_step, cfg.optim.learning_rate
('dapo', 5, 512, 1e-06)
>>> apply_overrides(cfg, ["rollout.group_size=8"]).rollout.group_size
8
>>> apply_overrides(cfg, ["rollout.grup_size=8"])
Traceback (most recent call last):
...
medix_r1.training.config.ConfigError: unknown config key 'rollout.grup_size'; did you mean 'rollout.group_size'?
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from medix_r1.errors import MedixError, did_you_mean
from medix_r1.rewards.config import RewardConfig

__all__ = [
    "ConfigError",
    "ModelSection",
    "LoraSection",
    "DataSection",
    "PromptSection",
    "RewardSection",
    "AlgorithmSection",
    "RolloutSection",
    "OptimSection",
    "ScheduleSection",
    "ValidationSection",
    "CheckpointSection",
    "AlarmSection",
    "LoggingSection",
    "WarmStartSection",
    "VerlSection",
    "TrainConfig",
    "parse_config",
    "apply_overrides",
    "config_to_yaml",
    "config_reference",
]


class ConfigError(MedixError, ValueError):
    """A training config that cannot be used as given; the message says which key and how to fix it."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LoraSection(_Section):
    """Low-rank adapters (peft). Off in the published recipe, which trains every weight."""

    enabled: bool = Field(False, description="Train LoRA adapters instead of the full model")
    r: int = Field(64, ge=1, description="Adapter rank")
    alpha: int = Field(128, ge=1, description="LoRA scaling numerator (scale = alpha / r)")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the adapter input")
    target_modules: str | list[str] = Field(
        "all-linear", description="Modules that get adapters: 'all-linear' or a list of module names"
    )


class ModelSection(_Section):
    """The policy to train."""

    name: str = Field(
        "Qwen/Qwen3-VL-8B-Instruct",
        description="Hub id, local folder, or built-in name (tiny-qwen2-vl, demo-vlm...; see `medix-r1 models`)",
    )
    dtype: str = Field("bfloat16", description="Weights dtype: auto, float32, bfloat16, float16")
    attn_implementation: str | None = Field(
        None, description="sdpa, flash_attention_2, eager; None = transformers' choice"
    )
    min_pixels: int | None = Field(
        262144, ge=1, description="Smallest image area in pixels after resizing (published: 512x512)"
    )
    max_pixels: int | None = Field(
        4194304, ge=1, description="Largest image area in pixels after resizing (published: 2048x2048)"
    )
    freeze_vision_tower: bool = Field(False, description="Keep the vision encoder fixed (published: trained)")
    gradient_checkpointing: bool = Field(True, description="Trade compute for memory in the backward pass")
    single_token_tags: bool = Field(
        False,
        description="Add each modality tag and each reply-format tag (<thinking>, </answer>...) to the tokenizer "
        "as one (non-special) token and resize the embeddings (not published; the quickstart's tiny model uses it)",
    )
    lora: LoraSection = Field(default_factory=LoraSection, description="LoRA adapters")


class DataSection(_Section):
    """Where records come from (the MediX record schema: id, image, source, problem, solution)."""

    train: str = Field(
        "MBZUAI/medix-rl-data",
        description="Training records: JSONL/JSON/parquet file, save_to_disk folder, hub id, or 'samples' "
        "(the bundled offline sample set)",
    )
    train_split: str | None = Field("train", description="Split of a hub or save_to_disk dataset")
    eval: str | None = Field(
        "MBZUAI/medix-rl-data",
        description="Validation records (same forms as 'train'; 'samples:test'); None = none",
    )
    eval_split: str | None = Field("test", description="Split of the validation source")
    max_train_records: int | None = Field(
        None, ge=1, description="Use a seeded random subset of this many records"
    )
    max_eval_records: int | None = Field(None, ge=1, description="Validate on at most this many records")
    image_max_side: int | None = Field(
        None,
        ge=14,
        description="Downscale images so the longest side is at most this (None: leave to the processor)",
    )
    seed: int = Field(1, description="Seed of the subset choice and of the shuffling (published: 1)")
    balance_modalities: bool = Field(
        False,
        description="Oversample training records so every modality tag is equally frequent (not published; the "
        "quickstart uses it so that always answering the majority tag does not pay)",
    )
    balance_power: float = Field(
        1.0,
        ge=0,
        le=1,
        description="How far balance_modalities goes (after balance_steps, when set): a tag with n records "
        "gets n * (most / n) ** power (1: every tag as frequent as the most frequent, 0: as found)",
    )
    balance_steps: int | None = Field(
        None,
        ge=0,
        description="With balance_modalities: the prompts of the first this many RL steps are fully balanced, "
        "the later ones at balance_power (None: the whole run at balance_power)",
    )


class PromptSection(_Section):
    """The training prompt (reference section 1; our wording, see medix_r1.prompting)."""

    template: str | None = Field(
        None,
        description="Instruction template with {tags} {think_open} {think_close} {answer_open} {answer_close}; "
        "None = our MediX instruction",
    )
    system: str | None = Field(None, description="Optional system message (the published prompt has none)")


class RewardSection(RewardConfig):
    """The composite reward (see `medix-r1 reward presets`), with optional weight overrides (``weights``).

    The tag variant (<thinking> or <think>) comes from the reward preset, so prompt and reward agree.
    """

    judge_url: str | None = Field(
        "http://localhost:8085/v1",
        description="Base URL of the OpenAI-compatible judge (published: a vLLM server running Qwen3-4B-Instruct-2507)",
    )

    def reward_config(self) -> RewardConfig:
        """The plain :class:`RewardConfig` (weights included: they live on RewardConfig)."""
        return RewardConfig(**self.model_dump())


class AlgorithmSection(_Section):
    """Policy optimisation (TRL's GRPOTrainer loss; reference section 4)."""

    name: Literal["grpo", "dapo", "gspo", "dr_grpo"] = Field(
        "dapo",
        description="grpo (KL-regularised), dapo (asymmetric clip, dynamic filtering), gspo (sequence-level "
        "ratio), dr_grpo (no length or std normalisation)",
    )
    loss_type: str | None = Field(
        None,
        description="TRL loss aggregation (grpo, dapo, dr_grpo, bnpo); None = the algorithm's own: grpo->grpo, "
        "dapo->dapo, gspo->grpo (sequence mean), dr_grpo->dr_grpo",
    )
    beta: float = Field(
        0.0, ge=0, description="KL coefficient against the reference model (published GRPO: 0.01)"
    )
    epsilon: float = Field(0.2, gt=0, description="Lower clip range of the importance ratio")
    epsilon_high: float | None = Field(
        0.28, gt=0, description="Upper clip range (DAPO's clip-higher); None = epsilon"
    )
    importance_sampling_level: Literal["token", "sequence"] | None = Field(
        None,
        description="Importance ratio per token or per sequence; None = sequence for gspo, token otherwise",
    )
    scale_rewards: Literal["group", "batch", "none"] | None = Field(
        None,
        description="Advantage scaling: group std (published), batch std, none; None = none for dr_grpo, else group",
    )
    dynamic_filtering: bool = Field(
        True,
        description="DAPO: drop groups whose mean overall reward is <= filter_low or >= filter_high, refill",
    )
    filter_low: float = Field(0.01, description="Groups at or below this mean overall reward are dropped")
    filter_high: float = Field(0.99, description="Groups at or above this mean overall reward are dropped")
    filter_refill_prompts: int | None = Field(
        128, ge=1, description="Prompts drawn per refill attempt (published: 128); None = prompts_per_step"
    )
    filter_max_tries: int = Field(
        20, ge=1, description="Refill attempts per step before training on a short batch"
    )
    mask_truncated_completions: bool = Field(
        False, description="Leave completions cut at the length limit out of the loss"
    )

    def resolved_loss_type(self) -> str:
        return (
            self.loss_type
            or {"grpo": "grpo", "dapo": "dapo", "gspo": "grpo", "dr_grpo": "dr_grpo"}[self.name]
        )

    def resolved_sampling_level(self) -> str:
        return self.importance_sampling_level or ("sequence" if self.name == "gspo" else "token")

    def resolved_scale_rewards(self) -> str:
        return self.scale_rewards or ("none" if self.name == "dr_grpo" else "group")


class RolloutSection(_Section):
    """Sampling of the groups."""

    group_size: int = Field(5, ge=2, description="Responses sampled per prompt (published: 5)")
    prompts_per_step: int = Field(512, ge=1, description="Prompts per RL step (published: 512)")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature of rollouts (published: 1.0)")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling of rollouts (published: 1.0)")
    top_k: int = Field(0, ge=0, description="Top-k sampling (0 = off)")
    max_prompt_length: int = Field(
        4352, ge=16, description="Longest prompt in tokens, image tokens included (published: 4352)"
    )
    max_completion_length: int = Field(4096, ge=1, description="Longest response in tokens (published: 4096)")
    engine: Literal["hf", "vllm"] = Field(
        "hf", description="hf: transformers generate (CPU, any GPU); vllm: the gpu extra"
    )
    vllm_mode: Literal["colocate", "server"] = Field(
        "colocate", description="vLLM in the training process (colocate) or a `trl vllm-serve` server"
    )
    vllm_server_url: str | None = Field(
        None, description="Base URL of the `trl vllm-serve` server (server mode)"
    )
    vllm_gpu_memory_utilization: float = Field(
        0.6, gt=0, le=1, description="GPU memory share vLLM may take (published: 0.6)"
    )
    vllm_tensor_parallel_size: int = Field(1, ge=1, description="vLLM tensor parallelism (colocate mode)")


class OptimSection(_Section):
    """Optimiser and batch arithmetic (published: AdamW, lr 1e-6 constant, wd 0.01, clip 1.0, 4 updates)."""

    learning_rate: float = Field(1e-6, gt=0, description="AdamW learning rate")
    lr_scheduler: str = Field(
        "constant", description="transformers scheduler name: constant, cosine, linear..."
    )
    warmup_ratio: float = Field(
        0.0, ge=0, lt=1, description="Share of steps spent warming up the learning rate"
    )
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping norm")
    updates_per_step: int = Field(
        4,
        ge=1,
        description="Optimiser updates per RL step: the step's completions are split into this many mini-batches",
    )
    micro_batch_size: int = Field(2, ge=1, description="Completions per forward/backward pass per device")
    bf16: bool | None = Field(
        None, description="bf16 mixed precision; None = on when a CUDA device is present"
    )
    cpu_threads: int | None = Field(
        None,
        ge=1,
        description="PyTorch threads when training on a CPU (torch.set_num_threads); None = PyTorch's default, "
        "one per core. The quickstart's tiny model generates faster on one (benchmarks/quickstart_step.py)",
    )


class ScheduleSection(_Section):
    """How long to train."""

    epochs: float = Field(
        2.0, gt=0, description="Passes over the training prompts (published: 2, ~200 steps)"
    )
    max_steps: int | None = Field(None, ge=1, description="Stop after this many RL steps (overrides epochs)")
    seed: int = Field(1, description="Seed of sampling and initialisation")


class ValidationSection(_Section):
    """Periodic validation on data.eval (TRL samples it with the rollout settings)."""

    every: int = Field(5, ge=0, description="Validate every N RL steps; 0 = never (published: 5)")
    temperature: float = Field(
        0.6, gt=0, description="Validation sampling temperature (published: 0.6; verl backend)"
    )
    top_p: float = Field(
        0.95, gt=0, le=1, description="Validation nucleus sampling (published: 0.95; verl backend)"
    )


class CheckpointSection(_Section):
    """Where the run lives and how it resumes."""

    output_dir: str | None = Field(None, description="Run folder; None = runs/<config name>")
    save_every: int = Field(
        5, ge=0, description="Save a checkpoint every N RL steps; 0 = only at the end (published: 5)"
    )
    save_limit: int | None = Field(3, ge=1, description="Keep at most this many checkpoints (published: 3)")
    resume: str = Field(
        "auto", description="auto: latest checkpoint in output_dir if any; none; or a checkpoint folder"
    )


class AlarmSection(_Section):
    """Reward-hacking alarms on the metric stream (paper: single-signal runs jumped and collapsed)."""

    enabled: bool = Field(True, description="Check the alarms every step")
    window: int = Field(10, ge=2, description="Steps compared by the trend alarms")
    format_saturation: float = Field(0.95, description="Format mean at or above this counts as saturated")
    accuracy_flat: float = Field(
        0.02, ge=0, description="Accuracy change over the window below this counts as flat"
    )
    jump: float = Field(
        0.3,
        gt=0,
        description="A component whose 3-step mean moves this much against the 3 steps before is a jump",
    )
    length_collapse: float = Field(
        0.5, gt=0, lt=1, description="Response length below this share of its early mean"
    )
    judge_failure_rate: float = Field(
        0.05, ge=0, description="Judge failures per request above this raise an alarm"
    )
    stop_on_alarm: bool = Field(False, description="Stop training (with a checkpoint) when an alarm fires")


class LoggingSection(_Section):
    """Metrics and trackers. metrics.jsonl and the console line are always written."""

    report_to: list[Literal["tensorboard", "wandb", "trackio"]] = Field(
        default_factory=list, description="Extra trackers (each needs its package installed)"
    )
    project: str = Field("medix-r1", description="Project name for W&B / trackio")
    console: bool = Field(True, description="A progress bar and one compact line per step")
    log_completions: bool = Field(False, description="Log sample completions to the trackers (TRL)")
    alarms: AlarmSection = Field(default_factory=AlarmSection, description="Reward-hacking alarms")


class WarmStartSection(_Section):
    """Optional supervised warm-start on the output format before RL (not in the published recipe)."""

    enabled: bool = Field(
        False, description="Run the warm-start (the quickstart does; the published recipe has none)"
    )
    steps: int = Field(150, ge=1, description="Optimiser steps of the warm-start")
    batch_size: int = Field(16, ge=1, description="Records per warm-start step")
    learning_rate: float = Field(2e-3, gt=0, description="Warm-start learning rate (AdamW)")
    tag_policy: Literal["random", "reference"] = Field(
        "random",
        description="random: the target's modality tag is drawn at random, independent of the image, so the "
        "warm-start teaches the format but not which tag fits which image; reference: the record's own tag",
    )
    reasoning: str = Field(
        "I read the image and the question.", description="Reasoning text of every warm-start target"
    )


class VerlSection(_Section):
    """The many-node backend (`medix-r1 train CONFIG --backend verl`)."""

    nnodes: int = Field(1, ge=1, description="Nodes in the Ray cluster (published: 1)")
    gpus_per_node: int = Field(8, ge=1, description="GPUs per node (published: 8)")
    rollout_name: Literal["vllm", "sglang"] = Field("vllm", description="Rollout engine")
    tensor_parallel_size: int = Field(
        2, ge=1, description="Rollout tensor parallelism (published: 2; 30B: 8)"
    )
    gpu_memory_utilization: float = Field(0.6, gt=0, le=1, description="Rollout GPU memory share")
    max_num_batched_tokens: int = Field(8448, ge=1, description="vLLM batched token budget (published: 8448)")
    micro_batch_size_per_gpu: int = Field(
        2, ge=1, description="Actor update micro-batch per GPU (published: 2)"
    )
    log_prob_micro_batch_size_per_gpu: int = Field(
        4, ge=1, description="Log-prob micro-batch per GPU (published: 4)"
    )
    param_offload: bool = Field(True, description="FSDP parameter offload (published: on)")
    optimizer_offload: bool = Field(True, description="FSDP optimizer offload (published: on)")
    ray_address: str | None = Field(
        None, description="Ray head address for `ray job submit` (None: run on this node)"
    )
    extra: list[str] = Field(
        default_factory=list, description="Extra hydra overrides appended to the command"
    )


class TrainConfig(_Section):
    """A whole training run. Start from a preset (`medix-r1 train --list-presets`)."""

    name: str = Field("medix-r1", description="Run name (folder, trackers)")
    description: str = Field("", description="What this config is")
    differs: str | None = Field(
        None, description="How this config departs from the published recipe (None: it does not)"
    )
    model: ModelSection = Field(default_factory=ModelSection, description="The policy")
    data: DataSection = Field(default_factory=DataSection, description="Records")
    prompt: PromptSection = Field(default_factory=PromptSection, description="Training prompt")
    reward: RewardSection = Field(
        default_factory=RewardSection, description="Composite reward, judge, embedder"
    )
    algorithm: AlgorithmSection = Field(default_factory=AlgorithmSection, description="Loss and filtering")
    rollout: RolloutSection = Field(default_factory=RolloutSection, description="Sampling")
    optim: OptimSection = Field(default_factory=OptimSection, description="Optimiser and batches")
    schedule: ScheduleSection = Field(default_factory=ScheduleSection, description="Length of training")
    validation: ValidationSection = Field(default_factory=ValidationSection, description="Validation")
    checkpoint: CheckpointSection = Field(
        default_factory=CheckpointSection, description="Run folder, saving, resuming"
    )
    logging: LoggingSection = Field(default_factory=LoggingSection, description="Metrics, trackers, alarms")
    warmstart: WarmStartSection = Field(
        default_factory=WarmStartSection, description="Optional SFT warm-start"
    )
    verl: VerlSection = Field(default_factory=VerlSection, description="verl backend settings")

    # ---- derived values ----
    @property
    def output_dir(self) -> Path:
        return Path(self.checkpoint.output_dir or Path("runs") / self.name)

    @property
    def completions_per_step(self) -> int:
        return self.rollout.prompts_per_step * self.rollout.group_size

    def gradient_accumulation(self, world_size: int = 1) -> int:
        """Micro-batches per optimiser update on each device."""
        per_update = self.optim.updates_per_step * self.optim.micro_batch_size * world_size
        return self.completions_per_step // per_update

    @property
    def uses_published_reward(self) -> bool:
        return self.reward.preset in ("medix-r1", "medix-r1-think") and not self.reward.weights

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        self.check_batches(int(os.environ.get("WORLD_SIZE", "1") or 1))
        alg = self.algorithm
        if alg.loss_type is not None and alg.loss_type not in ("grpo", "dapo", "dr_grpo", "bnpo"):
            raise ValueError(f"algorithm.loss_type {alg.loss_type!r} is not one of grpo, dapo, dr_grpo, bnpo")
        if alg.dynamic_filtering and not 0 <= alg.filter_low < alg.filter_high <= 1:
            raise ValueError(
                f"algorithm.filter_low ({alg.filter_low}) must be below algorithm.filter_high ({alg.filter_high}), "
                "both in [0, 1]"
            )
        if alg.name == "gspo" and alg.importance_sampling_level == "token":
            raise ValueError(
                "algorithm.name gspo needs importance_sampling_level 'sequence' (or leave it unset)"
            )
        if alg.epsilon_high is not None and alg.epsilon_high < alg.epsilon:
            raise ValueError(
                f"algorithm.epsilon_high ({alg.epsilon_high}) is below algorithm.epsilon ({alg.epsilon}); "
                "the upper clip range should be at least the lower one"
            )
        if (
            self.rollout.engine == "vllm"
            and self.rollout.vllm_mode == "server"
            and not self.rollout.vllm_server_url
        ):
            raise ValueError(
                "rollout.vllm_mode server needs rollout.vllm_server_url (where `trl vllm-serve` listens)"
            )
        if self.model.min_pixels and self.model.max_pixels and self.model.min_pixels > self.model.max_pixels:
            raise ValueError(
                f"model.min_pixels ({self.model.min_pixels}) is above model.max_pixels ({self.model.max_pixels})"
            )
        return self

    def check_batches(self, world_size: int = 1) -> None:
        """The step's completions must split evenly into updates x micro-batches x devices."""
        per_update = self.optim.updates_per_step * self.optim.micro_batch_size * world_size
        n = self.completions_per_step
        if n % per_update:
            raise ValueError(
                f"rollout.prompts_per_step x rollout.group_size = {self.rollout.prompts_per_step} x "
                f"{self.rollout.group_size} = {n} completions per step, which does not split into "
                f"optim.updates_per_step ({self.optim.updates_per_step}) x optim.micro_batch_size "
                f"({self.optim.micro_batch_size}) x {world_size} device(s) = {per_update}; change one of them so "
                f"{per_update} divides {n}"
            )


def _format_validation_error(err: ValidationError, origin: str) -> str:
    lines = []
    for problem in err.errors():
        where = ".".join(str(p) for p in problem["loc"]) or "(top level)"
        given = problem.get("input")
        msg = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            msg = "unknown key" + _did_you_mean(where)
        shown = "" if isinstance(given, dict) or problem["type"] == "extra_forbidden" else f" (got {given!r})"
        lines.append(f"  {where}: {msg}{shown}")
    return f"invalid training config {origin}:\n" + "\n".join(lines)


def _all_keys(model: type[BaseModel] = TrainConfig, prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        keys.append(path)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(_all_keys(annotation, path + "."))
    return keys


def _did_you_mean(key: str) -> str:
    return did_you_mean(key, _all_keys())


def parse_config(data: dict[str, Any], origin: str) -> TrainConfig:
    """A :class:`TrainConfig` from plain data; a :class:`ConfigError` names each bad key (``origin``
    says where the data came from). Presets and files are read by
    :func:`medix_r1.training.config_loading.load_config`."""
    try:
        return TrainConfig(**data)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, origin)) from None


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node: Any = TrainConfig
    for part in parts:
        fields = node.model_fields if isinstance(node, type) and issubclass(node, BaseModel) else None
        if fields is None:
            break  # inside a dict-valued field (reward.weights.modality): anything goes
        if part not in fields:
            raise ConfigError(f"unknown config key {dotted!r}{_did_you_mean(dotted)}")
        node = fields[part].annotation
    target = data
    for part in parts[:-1]:
        if not isinstance(target.get(part), dict):
            target[part] = {}
        target = target[part]
    target[parts[-1]] = value


def apply_overrides(config: TrainConfig, overrides: list[str] | tuple[str, ...]) -> TrainConfig:
    """A new config with ``key=value`` overrides (values read as YAML: ``8``, ``true``, ``[a, b]``, ``null``)."""
    data = config.model_dump(mode="json")
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not key=value (e.g. rollout.group_size=8)")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as err:
            raise ConfigError(f"override {item!r}: the value is not valid YAML ({err})") from None
        _set_path(data, key.strip(), value)
    return parse_config(data, f"after overrides {' '.join(overrides)}")


def config_to_yaml(config: TrainConfig) -> str:
    """The config as YAML (what `medix-r1 train --show-config` prints and every run saves)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def config_reference(model: type[BaseModel] = TrainConfig, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key, default, help) for every field, for docs and `--explain`."""
    rows: list[tuple[str, str, str]] = []
    instance = model()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(config_reference(annotation, f"{prefix}{name}."))
        else:
            rows.append((f"{prefix}{name}", repr(getattr(instance, name)), field.description or ""))
    return rows
