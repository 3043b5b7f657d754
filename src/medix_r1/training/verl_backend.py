"""The many-node backend: ``medix-r1 train CONFIG --backend verl`` prepares a verl run and launches
(or prints) it.

:func:`prepare_verl_run` writes into the run folder::

    data/train.parquet, data/val.parquet   verl's RL dataset layout (below)
    reward.yaml                            the reward settings (RewardConfig fields and weights)
    medix_reward.py                        verl's custom reward file: compute_score / compute_score_batch
                                           wrapping our composite reward, reading reward.yaml
    verl_overrides.yaml                    the hydra overrides matching the preset, as a nested mapping
    launch.sh                              the command (`python3 -m verl.trainer.main_ppo ...` or DAPO's
                                           recipe entry point), optionally through `ray job submit`
    easyr1_reward.sh                       the EasyR1 drop-in line for the published scripts

Dataset rows (verl's ``RLHFDataset``): ``data_source``, ``prompt`` (one user message whose text holds
an ``<image>`` placeholder where the picture goes), ``images`` (``{"bytes", "path"}`` structs),
``ability``, ``reward_model`` (``{"style": "rule", "ground_truth": solution}``) and ``extra_info``
(``id``, ``modality``, ``question``, ``answer``, ``split``, ``index``).

What differs from the published EasyR1 runs, and why: verl's DAPO recipe drops a group when the
chosen metric has zero spread within it (all responses equal), where EasyR1 drops groups whose mean
overall reward is <= 0.01 or >= 0.99; for the binary-heavy composite these agree on the all-0 and
all-1 groups and differ only on groups with a tiny spread. The TRL backend implements the published
rule exactly (:mod:`medix_r1.training.dapo`).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from medix_r1.training.config import TrainConfig

__all__ = [
    "VerlRun",
    "prepare_verl_run",
    "export_verl_parquet",
    "verl_rows",
    "verl_overrides",
    "write_reward_file",
    "launch_verl",
    "REWARD_FILE_TEMPLATE",
]

#: The reward file verl imports in each worker. It holds no logic of its own: it reads the run's
#: reward.yaml once and calls medix_r1.integrations.verl (compute_score / compute_score_batch).
REWARD_FILE_TEMPLATE = '''"""verl custom reward for this run, written by `medix-r1 train --backend verl`.

verl: custom_reward_function.path=<this file>, custom_reward_function.name=compute_score_batch with
reward_model.reward_manager=batch (or name=compute_score with the default naive manager).
The settings live in {config_name} next to this file (judge URL, embedder, preset, weights).
"""

from __future__ import annotations

import functools
from pathlib import Path

CONFIG_PATH = Path(__file__).with_name({config_name!r})


@functools.lru_cache(maxsize=1)
def _options() -> dict:
    import yaml

    return yaml.safe_load(CONFIG_PATH.read_text(encoding="utf-8")) or {{}}


def _composite_options() -> dict:
    options = dict(_options())
    options.pop("weights", None)
    return options


def _reweight(rows: list, weights: dict | None) -> list:
    # The run overrides component weights: recompute the score over the scored (non-NaN) components.
    if not weights:
        return rows
    from medix_r1.rewards.presets import get_preset

    base = dict(get_preset(_options().get("preset", "medix-r1")).weights)
    base.update(weights)
    full = sum(base.values())
    for row in rows:
        parts = [(base[k], row[k]) for k in base if k in row and row[k] == row[k]]
        kept = sum(w for w, _ in parts)
        row["score"] = sum(w * v for w, v in parts) * full / kept if kept else float("nan")
    return rows


def compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos=None, **kwargs):
    from medix_r1.integrations.verl import compute_score_batch as score

    rows = score(data_sources, solution_strs, ground_truths, extra_infos, **{{**_composite_options(), **kwargs}})
    return _reweight(rows, _options().get("weights"))


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info], **kwargs)[0]
'''


@dataclass
class VerlRun:
    """What :func:`prepare_verl_run` wrote, and the command that runs it."""

    run_dir: Path
    train_parquet: Path
    val_parquet: Path | None
    reward_file: Path
    reward_config: Path
    overrides_file: Path
    launch_script: Path
    command: list[str]

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
    config: TrainConfig, *, train_file: str, val_file: str | None, reward_file: str
) -> dict[str, Any]:
    """The verl (hydra) settings for a config, as a nested mapping (see the module docstring)."""
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
        "path": config.model.name,
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
        "reward_model": {"reward_manager": "batch"},
        "custom_reward_function": {"path": reward_file, "name": "compute_score_batch"},
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
        # verl's DAPO recipe: keep groups whose metric has a spread; refill in generation batches.
        settings["algorithm"]["filter_groups"] = {
            "enable": True,
            "metric": "score",
            "max_num_gen_batches": alg.filter_max_tries,
        }
        data["gen_batch_size"] = alg.filter_refill_prompts or roll.prompts_per_step
    return settings


def _entry_point(config: TrainConfig) -> list[str]:
    if config.algorithm.name == "dapo" and config.algorithm.dynamic_filtering:
        return ["python3", "-m", "recipe.dapo.main_dapo"]
    return ["python3", "-m", "verl.trainer.main_ppo"]


def _hydra_value(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ",".join(_hydra_value(v) if not isinstance(v, str) else f"'{v}'" for v in value) + "]"
    return str(value)


def write_reward_file(run_dir: Path, config: TrainConfig) -> tuple[Path, Path]:
    """Write ``reward.yaml`` and ``medix_reward.py`` (verl's compute_score signature)."""
    reward_yaml = run_dir / "reward.yaml"
    data = config.reward.reward_config().model_dump(mode="json")
    data["weights"] = config.reward.weights
    reward_yaml.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    reward_py = run_dir / "medix_reward.py"
    reward_py.write_text(REWARD_FILE_TEMPLATE.format(config_name=reward_yaml.name), encoding="utf-8")
    return reward_py, reward_yaml


def prepare_verl_run(config: TrainConfig, *, max_records: int | None = None) -> VerlRun:
    """Export data, reward file and settings for ``config`` into its run folder (see module docstring)."""
    from medix_r1.rewards.presets import get_preset as get_reward_preset
    from medix_r1.training.config import config_to_yaml
    from medix_r1.training.dataset import load_training_records

    run_dir = config.output_dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(config_to_yaml(config), encoding="utf-8")
    fmt = get_reward_preset(config.reward.preset).fmt
    limit = max_records or config.data.max_train_records
    train_records = load_training_records(
        config.data.train, split=config.data.train_split, limit=limit, seed=config.data.seed
    )
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
    reward_py, reward_yaml = write_reward_file(run_dir, config)
    settings = verl_overrides(
        config,
        train_file=str(train_parquet),
        val_file=str(val_parquet) if val_parquet else None,
        reward_file=str(reward_py),
    )
    overrides_file = run_dir / "verl_overrides.yaml"
    overrides_file.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    flat: dict[str, Any] = {}
    _flatten("", settings, flat)
    command = [
        *_entry_point(config),
        *(f"{k}={_hydra_value(v)}" for k, v in flat.items()),
        *config.verl.extra,
    ]
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
    body = " \\\n    ".join(shlex.quote(p) for p in command)
    launch.write_text(
        "#!/bin/bash\n# Written by `medix-r1 train --backend verl`. Start Ray on every node first (see docs/training.md).\n"
        f"set -euo pipefail\nexport PYTHONUNBUFFERED=1\n{body}\n",
        encoding="utf-8",
    )
    launch.chmod(0o755)
    from medix_r1.integrations.easyr1 import drop_in_script  # the one source of the EasyR1 line

    easyr1 = run_dir / "easyr1_reward.sh"
    easyr1.write_text(drop_in_script(config.reward.reward_config(), reward_yaml), encoding="utf-8")
    return VerlRun(
        run_dir, train_parquet, val_parquet, reward_py, reward_yaml, overrides_file, launch, command
    )


def launch_verl(run: VerlRun) -> int:
    """Run the launch script (needs verl installed: ``pip install 'medix-r1[verl]'``)."""
    import importlib.util

    from medix_r1.models.extras import MissingExtraError

    if importlib.util.find_spec("verl") is None:
        raise MissingExtraError(
            "launching verl needs the Python package 'verl', which is not installed. Install it with: "
            f"pip install 'medix-r1[verl]' (GPU nodes), or run {run.launch_script} where verl is installed"
        )
    return subprocess.call(["bash", str(run.launch_script)], cwd=str(run.run_dir))
