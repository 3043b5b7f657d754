"""The many-node backend: ``medix-r1 train CONFIG --backend verl`` prepares a verl run and launches
(or prints) it. Tested against verl 0.9.1 (the ``verl`` extra pins ``>=0.9.1,<0.10``).

:func:`prepare_verl_run` writes into the run folder::

    data/train.parquet, data/val.parquet   verl's RL dataset layout (below)
    model/                                 a built-in model (tiny-qwen2-vl...) materialised, so verl
                                           loads it by path (hub ids and folders are used as given)
    reward.yaml                            the reward settings (RewardConfig fields, weights included)
    verl_overrides.yaml                    the hydra overrides matching the preset, as a nested mapping
    launch.sh                              ``python3 -m verl.trainer.main_ppo ...``, optionally through
                                           ``ray job submit``; extra arguments are passed on to verl
                                           (``bash launch.sh --cfg job`` prints the composed config)
    easyr1_reward.sh                       the EasyR1 drop-in line for the published scripts

The reward is the package module itself (``reward.custom_reward_function.path=pkg://medix_r1.
integrations.verl``, ``name=acompute_score``, verl's ``naive`` reward manager): every node imports
the installed medix-r1, and the settings travel inline as ``+reward.custom_reward_function.
reward_kwargs.<field>=...`` (no shared file system needed). The run folder carries settings only.

Dataset rows (verl's ``RLHFDataset``): ``data_source``, ``prompt`` (one user message whose text holds
an ``<image>`` placeholder where the picture goes), ``images`` (``{"bytes", "path"}`` structs),
``ability``, ``reward_model`` (``{"style": "rule", "ground_truth": solution}``) and ``extra_info``
(``id``, ``modality``, ``question``, ``answer``, ``split``, ``index``).

DAPO's dynamic sampling uses what verl 0.9 ships (no separate recipe): ``algorithm.filter_groups``
read by the V1 trainer's replay buffer behind ``verl.trainer.main_ppo``. What differs from the
published EasyR1 runs, and why: verl drops a group when the chosen metric (here the reward) has zero
spread within it (all responses equal) and refills it, with no cap on refills, where EasyR1 drops
groups whose mean overall reward is <= 0.01 or >= 0.99 and tries at most ``filter_max_tries`` times;
for the binary-heavy composite these agree on the all-0 and all-1 groups and differ only on groups
with a tiny spread. The TRL backend implements the published rule exactly (:mod:`medix_r1.training.dapo`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from medix_r1.errors import MedixError
from medix_r1.integrations.verl import MODULE_PATH
from medix_r1.training.config import TrainConfig
from medix_r1.training.dataset import rl_prompts_ordered

__all__ = [
    "VerlRun",
    "VerlPreflightError",
    "TESTED_VERL",
    "prepare_verl_run",
    "export_verl_parquet",
    "verl_rows",
    "verl_overrides",
    "reward_overrides",
    "write_reward_config",
    "materialize_model",
    "preflight",
    "launch_verl",
]

#: The verl versions this backend is tested against (CI: `make test-verl`, verl 0.9.1).
TESTED_VERL = (">=0.9.1", "<0.10")
ENTRY_POINT = "verl.trainer.main_ppo"
#: The reward function verl calls (see medix_r1.integrations.verl).
REWARD_FUNCTION = "acompute_score"


class VerlPreflightError(MedixError, RuntimeError):
    """``--launch`` found something missing before starting Ray; the message lists what to fix."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"verl launch preflight: {len(self.problems)} problem(s), nothing was started:\n{lines}"
        )


@dataclass
class VerlRun:
    """What :func:`prepare_verl_run` wrote, and the command that runs it."""

    run_dir: Path
    train_parquet: Path
    val_parquet: Path | None
    reward_config: Path
    overrides_file: Path
    launch_script: Path
    command: list[str]
    model_path: str
    rollout_name: str = "vllm"
    ray_address: str | None = None
    overrides: list[str] = field(default_factory=list)

    @property
    def command_line(self) -> str:
        return " \\\n    ".join(shlex.quote(part) for part in self.command)


def verl_rows(records: list[Any], config: TrainConfig, fmt: Any, split: str) -> list[dict[str, Any]]:
    """verl dataset rows for MediX records (images embedded as PNG/JPEG bytes)."""
    from medix_r1.data.images import load_image_bytes
    from medix_r1.prompting import prompt_text

    rows = []
    for index, record in enumerate(records):
        images = []
        for ref in record.image:
            base = Path(ref).parent if isinstance(ref, str) and os.path.isabs(ref) else "."
            data, label = load_image_bytes(ref, base)
            images.append({"bytes": data, "path": Path(str(label)).name if isinstance(label, str) else None})
        rows.append(
            {
                "data_source": record.source or "medix",
                "prompt": [
                    {"role": "user", "content": prompt_text(record.problem, fmt, config.prompt.template)}
                ],
                "images": images,
                "ability": "medical_vqa",
                "reward_model": {"style": "rule", "ground_truth": record.solution},
                "extra_info": {
                    "id": record.id,
                    "index": index,
                    "split": split,
                    "modality": record.tag,
                    "question": record.question,
                    "answer": record.answer,
                },
            }
        )
    return rows


def export_verl_parquet(
    records: list[Any], path: str | os.PathLike[str], config: TrainConfig, fmt: Any, split: str = "train"
) -> Path:
    """Write records as a verl RL parquet file; returns its path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = verl_rows(records, config, fmt, split)
    if not rows:
        raise ValueError(f"no records to export to {path}")
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, sub in value.items():
            _flatten(f"{prefix}.{key}" if prefix else key, sub, out)
    else:
        out[prefix] = value


def verl_overrides(
    config: TrainConfig, *, train_file: str, val_file: str | None, model_path: str | None = None
) -> dict[str, Any]:
    """The verl (hydra) settings for a config, as a nested mapping of keys that exist in verl
    0.9.1's ``ppo_trainer`` config (the reward's settings, which do not, are :func:`reward_overrides`)."""
    alg, roll, opt, v = config.algorithm, config.rollout, config.optim, config.verl
    loss_agg = {
        "grpo": "seq-mean-token-mean",
        "dapo": "token-mean",
        "dr_grpo": "seq-mean-token-sum-norm",
        "bnpo": "token-mean",
    }[alg.resolved_loss_type()]
    mini_batch = max(1, config.rollout.prompts_per_step // opt.updates_per_step)
    actor: dict[str, Any] = {
        "optim": {
            "lr": opt.learning_rate,
            "weight_decay": opt.weight_decay,
            "lr_warmup_steps_ratio": opt.warmup_ratio,
        },
        "ppo_mini_batch_size": mini_batch,
        "ppo_micro_batch_size_per_gpu": v.micro_batch_size_per_gpu,
        "grad_clip": opt.max_grad_norm,
        "clip_ratio_low": alg.epsilon,
        "clip_ratio_high": alg.epsilon_high if alg.epsilon_high is not None else alg.epsilon,
        "loss_agg_mode": loss_agg,
        "use_kl_loss": alg.beta > 0,
        "kl_loss_coef": alg.beta,
        "kl_loss_type": "low_var_kl",
        "entropy_coeff": 0,
        "fsdp_config": {"param_offload": v.param_offload, "optimizer_offload": v.optimizer_offload},
    }
    if config.model.freeze_vision_tower:
        actor["freeze_vision_tower"] = True
    if alg.resolved_sampling_level() == "sequence":
        actor["policy_loss"] = {"loss_mode": "gspo"}
    model: dict[str, Any] = {
        "path": model_path or config.model.name,
        "enable_gradient_checkpointing": config.model.gradient_checkpointing,
        "use_remove_padding": True,
    }
    if config.model.lora.enabled:
        model.update(
            lora_rank=config.model.lora.r,
            lora_alpha=config.model.lora.alpha,
            target_modules=config.model.lora.target_modules,
        )
    data: dict[str, Any] = {
        "train_files": train_file,
        "val_files": val_file or train_file,
        "prompt_key": "prompt",
        "image_key": "images",
        "train_batch_size": roll.prompts_per_step,
        "max_prompt_length": roll.max_prompt_length,
        "max_response_length": roll.max_completion_length,
        "filter_overlong_prompts": True,
        "truncation": "error",
        "seed": config.data.seed,
        # Balanced-then-later prompts (data.balance_steps) are exported in the order they must be used.
        "shuffle": not rl_prompts_ordered(config),
    }
    settings: dict[str, Any] = {
        "algorithm": {
            "adv_estimator": "grpo",
            "use_kl_in_reward": False,
            "norm_adv_by_std_in_grpo": alg.resolved_scale_rewards() != "none",
        },
        "data": data,
        "actor_rollout_ref": {
            "model": model,
            "actor": actor,
            "rollout": {
                "name": v.rollout_name,
                "n": roll.group_size,
                "temperature": roll.temperature,
                "top_p": roll.top_p,
                "top_k": roll.top_k or -1,
                "tensor_model_parallel_size": v.tensor_parallel_size,
                "gpu_memory_utilization": v.gpu_memory_utilization,
                "max_num_batched_tokens": v.max_num_batched_tokens,
                "log_prob_micro_batch_size_per_gpu": v.log_prob_micro_batch_size_per_gpu,
                "val_kwargs": {
                    "temperature": config.validation.temperature,
                    "top_p": config.validation.top_p,
                    "do_sample": True,
                    "n": 1,
                },
            },
            "ref": {"log_prob_micro_batch_size_per_gpu": v.log_prob_micro_batch_size_per_gpu},
        },
        # Where verl 0.9 reads the reward (the legacy top-level custom_reward_function /
        # reward_model.reward_manager keys are not read by its trainer).
        "reward": {
            "reward_manager": {"name": "naive"},
            "custom_reward_function": {"path": MODULE_PATH, "name": REWARD_FUNCTION},
        },
        "trainer": {
            "project_name": config.logging.project,
            "experiment_name": config.name,
            "nnodes": v.nnodes,
            "n_gpus_per_node": v.gpus_per_node,
            "total_epochs": int(config.schedule.epochs) if config.schedule.epochs >= 1 else 1,
            "save_freq": config.checkpoint.save_every or -1,
            "max_actor_ckpt_to_keep": config.checkpoint.save_limit,
            "test_freq": config.validation.every or -1,
            "val_before_train": bool(config.validation.every),
            "default_local_dir": str((config.output_dir / "checkpoints").resolve()),
            "resume_mode": "auto" if config.checkpoint.resume == "auto" else "disable",
            "logger": ["console", *[x for x in config.logging.report_to if x in ("wandb", "tensorboard")]],
        },
    }
    if config.schedule.max_steps is not None:
        settings["trainer"]["total_training_steps"] = config.schedule.max_steps
    if alg.name == "dapo" and alg.dynamic_filtering:
        # verl 0.9's V1 trainer (behind main_ppo): the replay buffer drops groups whose reward has
        # no spread and refills them. It ignores max_num_gen_batches and data.gen_batch_size (it
        # refills prompt by prompt), so neither is set.
        settings["algorithm"]["filter_groups"] = {"enable": True, "metric": "reward"}
    return settings


def reward_overrides(config: TrainConfig) -> list[str]:
    """``+reward.custom_reward_function.reward_kwargs.<field>=<value>`` for every reward setting
    (the ``+`` because verl's config has no such keys); the reward reads them as keyword arguments."""
    data = config.reward.reward_config().model_dump(mode="json", exclude_none=True)
    out = []
    for key, value in data.items():
        if isinstance(value, dict):
            for sub, subvalue in value.items():
                out.append(
                    f"+reward.custom_reward_function.reward_kwargs.{key}.{sub}={_hydra_value(subvalue)}"
                )
        else:
            out.append(f"+reward.custom_reward_function.reward_kwargs.{key}={_hydra_value(value)}")
    return out


_PLAIN = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:")


def _hydra_value(value: Any) -> str:
    """A value in hydra's override grammar (strings quoted unless plainly safe)."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ",".join(_hydra_value(v) for v in value) + "]"
    if isinstance(value, str):
        if value and set(value) <= _PLAIN and value.lower() not in ("true", "false", "null"):
            try:
                float(value)
            except ValueError:
                return value
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return str(value)


def write_reward_config(run_dir: Path, config: TrainConfig) -> Path:
    """Write ``reward.yaml``: the RewardConfig fields, weights included (read by EasyR1's drop-in
    through ``MEDIX_R1_REWARD_CONFIG`` and by people; verl gets the same settings inline)."""
    reward_yaml = run_dir / "reward.yaml"
    data = config.reward.reward_config().model_dump(mode="json")
    reward_yaml.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return reward_yaml


def materialize_model(config: TrainConfig, run_dir: Path) -> str:
    """The model path verl should load: a built-in model (tiny-qwen2-vl, demo-vlm...) is built here
    and copied into ``run_dir/model`` (verl would look its name up on the hub); a folder becomes
    absolute; a hub id is kept."""
    from medix_r1.models.registry import resolve_model_spec

    spec = resolve_model_spec(config.model.name)
    if spec.kind == "local":
        return spec.location
    if spec.kind == "hub":
        return spec.location
    target = run_dir / "model"
    if not (target / "config.json").is_file():
        source = Path(spec.materialize())
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target)
    return str(target)


def prepare_verl_run(config: TrainConfig, *, max_records: int | None = None) -> VerlRun:
    """Export data, model, reward settings and the command for ``config`` into its run folder (see
    the module docstring)."""
    from medix_r1.rewards.presets import get_preset as get_reward_preset
    from medix_r1.training.config import config_to_yaml
    from medix_r1.training.dataset import load_training_records, rl_prompt_options, rl_prompt_records

    run_dir = config.output_dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(config_to_yaml(config), encoding="utf-8")
    fmt = get_reward_preset(config.reward.preset).fmt
    limit = max_records or config.data.max_train_records
    train_records = load_training_records(
        config.data.train, split=config.data.train_split, limit=limit, seed=config.data.seed
    )
    # The same RL prompts as the TRL backend: balanced over the tags when data.balance_modalities asks.
    train_records = rl_prompt_records(train_records, **rl_prompt_options(config))
    if max_records:  # a small export (tests, a look at the layout): the first prompts only
        train_records = train_records[:max_records]
    train_parquet = export_verl_parquet(
        train_records, run_dir / "data" / "train.parquet", config, fmt, "train"
    )
    val_parquet = None
    if config.data.eval:
        val_records = load_training_records(
            config.data.eval,
            split=config.data.eval_split,
            limit=max_records or config.data.max_eval_records,
            seed=config.data.seed,
        )
        val_parquet = export_verl_parquet(val_records, run_dir / "data" / "val.parquet", config, fmt, "val")
    reward_yaml = write_reward_config(run_dir, config)
    model_path = materialize_model(config, run_dir)
    settings = verl_overrides(
        config,
        train_file=str(train_parquet),
        val_file=str(val_parquet) if val_parquet else None,
        model_path=model_path,
    )
    overrides_file = run_dir / "verl_overrides.yaml"
    overrides_file.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    flat: dict[str, Any] = {}
    _flatten("", settings, flat)
    overrides = [
        *(f"{k}={_hydra_value(v)}" for k, v in flat.items()),
        *reward_overrides(config),
        *config.verl.extra,
    ]
    command = ["python3", "-m", ENTRY_POINT, *overrides]
    if config.verl.ray_address:
        command = [
            "ray",
            "job",
            "submit",
            f"--address={config.verl.ray_address}",
            f"--runtime-env-json={json.dumps({'env_vars': {'PYTHONUNBUFFERED': '1'}})}",
            "--",
            *command,
        ]
    launch = run_dir / "launch.sh"
    # ${PYTHON:-python3}: `--launch` runs it with the interpreter that passed the preflight.
    python_at = command.index("python3")
    body = " \\\n    ".join(
        '"${PYTHON:-python3}"' if i == python_at else shlex.quote(p) for i, p in enumerate(command)
    )
    launch.write_text(
        "#!/bin/bash\n# Written by `medix-r1 train --backend verl` for verl 0.9.x. Start Ray on every node "
        "first (see docs/training.md).\n# Extra arguments go to verl: `bash launch.sh --cfg job` prints "
        "the composed config without starting anything.\nset -euo pipefail\nexport PYTHONUNBUFFERED=1\n"
        f'{body} \\\n    "$@"\n',
        encoding="utf-8",
    )
    launch.chmod(0o755)
    from medix_r1.integrations.easyr1 import drop_in_script  # the one source of the EasyR1 line

    easyr1 = run_dir / "easyr1_reward.sh"
    easyr1.write_text(drop_in_script(config.reward.reward_config(), reward_yaml), encoding="utf-8")
    return VerlRun(
        run_dir,
        train_parquet,
        val_parquet,
        reward_yaml,
        overrides_file,
        launch,
        command,
        model_path,
        rollout_name=config.verl.rollout_name,
        ray_address=config.verl.ray_address,
        overrides=overrides,
    )


def _installed_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("+")[0].split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


#: What verl.trainer.main_ppo imports before and right after Ray starts (0.9.1: TaskRunnerV1.run).
_TRAINER_IMPORTS = (
    "import verl.trainer.main_ppo, transfer_queue; "
    "from verl.trainer.ppo.v1 import get_trainer_cls; get_trainer_cls('sync')"
)


def _trainer_import_failure() -> str | None:
    """The last line of the error when the trainer's imports fail in a fresh interpreter, else None."""
    result = subprocess.run(
        [sys.executable, "-c", _TRAINER_IMPORTS], capture_output=True, text=True, check=False
    )
    if result.returncode == 0:
        return None
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {result.returncode}"


def preflight(run: VerlRun) -> list[str]:
    """What would stop ``run`` before or right after Ray starts: the entry point, the trainer's
    imports, the rollout engine and the model path. Returns the problems (empty: ready); imports
    nothing heavy and starts nothing."""
    problems: list[str] = []
    base = "pip install 'medix-r1[verl]'"
    engine_extra = f"pip install 'medix-r1[verl-{run.rollout_name}]'"
    version = _installed_version("verl")
    if version is None or importlib.util.find_spec("verl") is None:
        problems.append(
            f"entry point {ENTRY_POINT}: the Python package 'verl' is not installed ({base}; "
            f"tested: verl{','.join(TESTED_VERL)})"
        )
    else:
        if not (_version_tuple("0.9.1") <= _version_tuple(version) < _version_tuple("0.10")):
            problems.append(
                f"verl {version} is installed; this export is written for verl{','.join(TESTED_VERL)} "
                f"(pip install 'verl{','.join(TESTED_VERL)}')"
            )
        if importlib.util.find_spec(ENTRY_POINT) is None:
            problems.append(f"entry point {ENTRY_POINT} is missing from verl {version} ({base})")
    # The 0.9 trainer (TaskRunnerV1) imports transfer_queue when it starts; RLHFDataset needs
    # qwen_vl_utils (and torchvision) to put the images into the prompt.
    missing = []
    for module, package in (("transfer_queue", "TransferQueue"), ("qwen_vl_utils", "qwen-vl-utils")):
        if importlib.util.find_spec(module) is None:
            missing.append(module)
            problems.append(
                f"trainer import {module!r} is missing (package {package}; {base} installs verl[verl-core])"
            )
    if version is not None and not missing:
        failure = _trainer_import_failure()
        if failure:
            problems.append(f"the trainer does not import: {failure}")
    if importlib.util.find_spec("torchvision") is None:
        problems.append(
            "trainer import 'torchvision' is missing: verl's RLHFDataset drops every image row without it "
            f"({engine_extra} brings the matching torch/torchvision)"
        )
    if importlib.util.find_spec(run.rollout_name) is None:
        problems.append(
            f"rollout engine {run.rollout_name!r} (actor_rollout_ref.rollout.name) is not installed "
            f"({engine_extra})"
        )
    model = run.model_path
    looks_local = model.startswith(("/", ".", "~")) or os.path.isabs(model)
    if looks_local:
        if not (Path(model).expanduser() / "config.json").is_file():
            problems.append(f"model path {model}: no config.json there (set model.name to a model folder)")
    elif os.environ.get("HF_HUB_OFFLINE") == "1":
        problems.append(
            f"model path {model!r} is a hub id but HF_HUB_OFFLINE=1: download it first "
            "(huggingface-cli download) and set model.name to the folder"
        )
    if run.ray_address is None:
        import torch  # a base dependency

        if not torch.cuda.is_available():
            problems.append(
                "no CUDA device on this machine: verl's actor and rollout need GPUs "
                "(run on a GPU node, or set verl.ray_address to submit to a cluster)"
            )
    return problems


def launch_verl(run: VerlRun) -> int:
    """Check :func:`preflight`, then run the launch script with this interpreter.

    Raises:
        VerlPreflightError: one message naming every missing piece; nothing was started.
    """
    problems = preflight(run)
    if problems:
        raise VerlPreflightError(problems)
    env = {**os.environ, "PYTHON": sys.executable}
    return subprocess.call(["bash", str(run.launch_script)], cwd=str(run.run_dir), env=env)
