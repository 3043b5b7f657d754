"""Contract tests against verl itself (verl 0.9.1, in its own venv: ``make test-verl``).

Every exported run is checked with verl's own code, not with our expectations of it:
(a) each preset's launch overrides compose with verl's hydra config (``ppo_trainer``) and pass
    verl's ``validate_config`` and config dataclasses; ``launch.sh --cfg job`` runs verl's entry point;
(b) verl's loader (``get_custom_reward_fn``, ``resolve_reward_manager_cls``, ``load_reward_manager``)
    resolves the reward to our module and verl's naive manager;
(c) verl's ``RewardLoopWorker`` (the class verl runs as a Ray actor, called here in-process) scores
    exported rows in batches > 1 and ``assemble_rm_scores`` builds the reward tensor: our scores, no
    NaN; a judge that is down stops the step with an error naming its URL;
(d) verl's ``RLHFDataset`` loads the exported parquet with the image in the prompt.

CPU stand-ins, and why: verl's dataset needs ``qwen_vl_utils``, which imports torchvision, and no
torchvision wheel matches this CPU torch, so (d) puts ``tests/integrations/verl_standins/
qwen_vl_utils.py`` (still images only) in front of the real package, and passes a processor built
from the model folder with transformers' PIL image processor (``medix_r1.models.build_vl_processor``)
because verl's ``hf_processor`` returns None without torchvision. Ray is not started: the worker class is called directly.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

verl = pytest.importorskip("verl", reason="runs in the verl venv with verl 0.9.1: make test-verl")

from medix_r1.training.config import apply_overrides  # noqa: E402
from medix_r1.training.presets import get_preset, preset_names  # noqa: E402

STANDINS = Path(__file__).with_name("verl_standins")
CONFIG_DIR = Path(verl.__file__).parent / "trainer" / "config"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("verl-contract")
    os.environ["MEDIX_R1_CACHE"] = str(root / "cache")  # built-in models are built here, not in ~/.cache
    return root


@pytest.fixture(scope="module")
def samples(workdir):
    from medix_r1.data import ensure_samples

    info = ensure_samples(workdir / "samples")
    return info.train_path, info.test_path


def prepare(samples, workdir, preset: str, *overrides: str, records: int = 4):
    from medix_r1.training.verl_backend import prepare_verl_run

    train, test = samples
    config = apply_overrides(
        get_preset(preset),
        [
            f"data.train={train}",
            f"data.eval={test}",
            "data.train_split=null",
            "data.eval_split=null",
            "reward.judge=fake",
            "reward.embedding_model=hashing",
            f"checkpoint.output_dir={workdir / 'runs' / preset / str(abs(hash(overrides)))}",
            *overrides,
        ],
    )
    return prepare_verl_run(config, max_records=records)


def compose(run):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        return hydra_compose(config_name="ppo_trainer", overrides=run.overrides)


# ---------------------------------------------------------------- (a) config


@pytest.mark.parametrize("preset", preset_names())
def test_every_preset_composes_with_verls_config_and_validates(samples, workdir, preset):
    from omegaconf import OmegaConf
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import omega_conf_to_dataclass, validate_config

    run = prepare(samples, workdir, preset, records=2)
    cfg = compose(run)
    validate_config(config=cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
    # verl's typed configs check their fields (batch sizes, clip ratios, loss modes...) when built.
    algorithm = omega_conf_to_dataclass(cfg.algorithm)
    actor = omega_conf_to_dataclass(cfg.actor_rollout_ref.actor)
    rollout = omega_conf_to_dataclass(cfg.actor_rollout_ref.rollout)
    assert actor.clip_ratio_high == cfg.actor_rollout_ref.actor.clip_ratio_high and rollout.n >= 1
    assert cfg.reward.custom_reward_function.path == "pkg://medix_r1.integrations.verl"
    assert cfg.reward.custom_reward_function.name == "acompute_score"
    assert cfg.reward.reward_manager.name == "naive"
    assert cfg.actor_rollout_ref.model.path == run.model_path
    kwargs = OmegaConf.to_container(cfg.reward.custom_reward_function.reward_kwargs)
    assert kwargs == run_reward_settings(run)
    config = get_preset(preset)
    dynamic = config.algorithm.name == "dapo" and config.algorithm.dynamic_filtering
    assert bool(algorithm.filter_groups and algorithm.filter_groups.enable) == dynamic
    if dynamic:
        # verl 0.9's V1 trainer (behind main_ppo) reads this to filter DAPO groups.
        from verl.trainer.ppo.v1.trainer_base import PPOTrainer

        class Probe:
            config = cfg

        assert PPOTrainer._resolve_filter_groups_metric(Probe()) == "reward"
    if preset == "quickstart":  # a built-in model, materialised into the run folder for verl
        assert run.model_path == str(run.run_dir / "model")
        assert (Path(run.model_path) / "config.json").is_file()


def run_reward_settings(run):
    import yaml

    data = yaml.safe_load(run.reward_config.read_text())
    return {k: v for k, v in data.items() if v is not None}


def test_launch_script_runs_verls_entry_point(samples, workdir):
    run = prepare(samples, workdir, "medix-r1-8b-dapo", records=2)
    result = subprocess.run(
        ["bash", str(run.launch_script), "--cfg", "job"],
        cwd=run.run_dir,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "verl.trainer.main_ppo" in run.launch_script.read_text()
    assert "pkg://medix_r1.integrations.verl" in result.stdout and "acompute_score" in result.stdout
    assert "filter_groups:" in result.stdout


# ---------------------------------------------------------------- (b) reward loader


def test_verls_loader_resolves_our_reward(samples, workdir):
    from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager
    from verl.trainer.ppo.reward import get_custom_reward_fn, load_reward_manager, resolve_reward_manager_cls
    from verl.utils import hf_tokenizer

    import medix_r1.integrations.verl as ours

    run = prepare(samples, workdir, "quickstart")
    cfg = compose(run)
    fn = get_custom_reward_fn(cfg)
    assert fn.args[0] is ours.acompute_score  # verl wraps our function with the reward_kwargs
    assert fn.args[1]["weights"] == get_preset("quickstart").reward.weights
    assert resolve_reward_manager_cls(cfg) is NaiveRewardManager
    manager = load_reward_manager(cfg, hf_tokenizer(run.model_path))
    assert isinstance(manager, NaiveRewardManager) and manager.is_async_reward_score


# ---------------------------------------------------------------- (c) reward loop

GOOD = "<{tag}><thinking>The image shows it.</thinking><answer>{answer}</answer>"


def responses_for(rows):
    """Per exported row: the right answer, a wrong answer, and a malformed reply."""
    out = []
    for row in rows:
        tag = row["reward_model"]["ground_truth"].split(">")[0].lstrip("<")
        answer = row["extra_info"]["answer"]
        out += [
            (row, GOOD.format(tag=tag, answer=answer)),
            (row, GOOD.format(tag=tag, answer="a completely different finding")),
            (row, f"{answer} without any tags"),
        ]
    return out


def reward_batch(tokenizer, pairs):
    """A DataProto shaped as verl's rollout hands it to the reward loop (left-padded prompts)."""
    import numpy as np
    import torch
    from verl import DataProto

    prompt_len, resp_len = 4, 64
    prompts = torch.full((len(pairs), prompt_len), tokenizer.pad_token_id or 0, dtype=torch.long)
    responses = torch.full((len(pairs), resp_len), tokenizer.pad_token_id or 0, dtype=torch.long)
    mask = torch.zeros((len(pairs), prompt_len + resp_len), dtype=torch.long)
    mask[:, :prompt_len] = 1
    for i, (_, text) in enumerate(pairs):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"][:resp_len]
        responses[i, : len(ids)] = torch.tensor(ids)
        mask[i, prompt_len : prompt_len + len(ids)] = 1
    rows = [row for row, _ in pairs]
    return DataProto.from_dict(
        tensors={"prompts": prompts, "responses": responses, "attention_mask": mask},
        non_tensors={
            "data_source": np.array([r["data_source"] for r in rows], dtype=object),
            "reward_model": np.array([r["reward_model"] for r in rows], dtype=object),
            "extra_info": np.array([dict(r["extra_info"]) for r in rows], dtype=object),
        },
    )


def run_reward_loop(run, pairs):
    """verl's reward loop worker on ``pairs``; returns (worker outputs, rm_scores, decoded texts)."""
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker, migrate_legacy_reward_impl

    cfg = migrate_legacy_reward_impl(compose(run))  # what RewardLoopManager's caller does in 0.9.1
    worker = RewardLoopWorker(cfg)
    data = reward_batch(worker.input_tokenizer, pairs)
    outputs = worker.loop.run_until_complete(worker.compute_score_batch(data))
    scores = worker.reward_manager.assemble_rm_scores(data, [o["reward_score"] for o in outputs])
    texts = [
        worker.input_tokenizer.decode(
            data.batch["responses"][i][data.batch["attention_mask"][i][4:].bool()], skip_special_tokens=True
        )
        for i in range(len(pairs))
    ]
    return outputs, scores, texts


def test_reward_loop_scores_exported_rows_in_a_batch(samples, workdir):
    import pyarrow.parquet as pq

    from medix_r1.rewards.config import RewardConfig, build_reward_from_config

    run = prepare(samples, workdir, "quickstart", records=4)
    rows = pq.read_table(run.train_parquet).to_pylist()
    pairs = responses_for(rows)
    assert len(pairs) == 12
    outputs, rm_scores, texts = run_reward_loop(run, pairs)
    import torch

    assert not torch.isnan(rm_scores).any()
    totals = rm_scores.sum(dim=1).tolist()
    # The same rows through our reward directly (what `medix-r1 reward score` computes).
    composite = build_reward_from_config(RewardConfig(**run_reward_settings(run)))
    direct = composite.score(texts, [r["reward_model"]["ground_truth"] for r, _ in pairs])
    assert totals == pytest.approx([d["overall"] for d in direct], abs=1e-6)
    for output, want in zip(outputs, direct, strict=True):
        info = output["reward_extra_info"]
        assert info["score"] == pytest.approx(want["overall"])
        assert info["format"] == want["format"] and info["unscored"] == 0.0
    assert totals[0::3] == pytest.approx([1.0] * 4)  # right answers: every component
    assert max(totals[1::3]) < 1.0 and max(totals[2::3]) < 0.5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_reward_loop_with_the_judge_down_names_the_url(samples, workdir):
    from medix_r1.judges import JudgeUnavailableError

    url = f"http://127.0.0.1:{free_port()}/v1"
    down = ("reward.judge=openai", f"reward.judge_url={url}", "reward.judge_retries=0")
    run = prepare(samples, workdir, "quickstart", *down, records=2)
    import pyarrow.parquet as pq

    pairs = responses_for(pq.read_table(run.train_parquet).to_pylist())
    with pytest.raises(JudgeUnavailableError, match=url.replace(".", r"\.")):
        run_reward_loop(run, pairs)

    # on_judge_error=skip: the step goes on; the judge's part is NaN in the logs, never in the
    # reward tensor, and no answer scores higher than with the judge up.
    skip = prepare(samples, workdir, "quickstart", *down, "reward.on_judge_error=skip", records=2)
    outputs, rm_scores, _ = run_reward_loop(skip, pairs)
    import torch

    assert not torch.isnan(rm_scores).any()
    up = prepare(samples, workdir, "quickstart", records=2)
    _, up_scores, _ = run_reward_loop(up, pairs)
    assert (rm_scores.sum(dim=1) <= up_scores.sum(dim=1) + 1e-9).all()
    judged = [o for o in outputs if o["reward_extra_info"]["unscored"] == 1.0]
    assert judged and all(math.isnan(o["reward_extra_info"]["accuracy_llm"]) for o in judged)


# ---------------------------------------------------------------- (d) dataset


def test_rlhf_dataset_loads_the_exported_parquet(samples, workdir, monkeypatch):
    import pyarrow.parquet as pq
    from transformers import AutoTokenizer
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    from verl.utils import hf_processor, hf_tokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from medix_r1.models import build_vl_processor

    monkeypatch.syspath_prepend(str(STANDINS))  # see the module docstring: no torchvision here
    monkeypatch.delitem(sys.modules, "qwen_vl_utils", raising=False)
    import qwen_vl_utils

    assert Path(qwen_vl_utils.__file__).parent == STANDINS

    run = prepare(samples, workdir, "quickstart", records=6)
    cfg = compose(run)
    exported = pq.read_table(run.train_parquet).num_rows
    tokenizer = hf_tokenizer(run.model_path)
    assert hf_processor(run.model_path) is None  # why our processor is passed in (module docstring)
    # The model's own image settings through transformers' PIL image processor (no torchvision).
    processor = build_vl_processor(
        AutoTokenizer.from_pretrained(run.model_path),
        Qwen2VLImageProcessorPil.from_pretrained(run.model_path),
        "qwen2_vl",
    )
    dataset = RLHFDataset(str(run.train_parquet), tokenizer, cfg.data, processor)
    assert len(dataset) == exported == 6  # none dropped by verl's prompt filter
    item = dataset[0]
    content = item["raw_prompt"][0]["content"]
    assert [part["type"] for part in content] == ["text", "image", "text"]
    assert item["reward_model"]["ground_truth"] and item["extra_info"]["modality"]
    images, _, _ = RLHFDataset._process_multi_modal_info(
        item["raw_prompt"], dataset.image_patch_size, cfg.data
    )
    text = processor.apply_chat_template(item["raw_prompt"], add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[text], images=images, return_tensors="pt")
    image_token = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert int((inputs["input_ids"][0] == image_token).sum()) > 0


# ---------------------------------------------------------------- --launch preflight


def test_preflight_against_the_installed_verl(samples, workdir):
    from medix_r1.training.verl_backend import VerlPreflightError, launch_verl

    run = prepare(samples, workdir, "quickstart", records=2)
    with pytest.raises(VerlPreflightError, match="nothing was started") as info:
        launch_verl(run)
    text = "\n".join(info.value.problems)
    # verl 0.9.1, its entry point and the trainer's imports (main_ppo, transfer_queue, the V1
    # trainer, imported in a fresh interpreter) are all there in this venv ...
    assert "entry point" not in text and "transfer_queue" not in text and "does not import" not in text
    # ... what a CPU machine lacks is named, with what to install
    assert "rollout engine 'vllm'" in text and "pip install 'medix-r1[verl-vllm]'" in text
