"""verl backend, the parts that run on a CPU: parquet export in verl's layout, the reward file with
verl's compute_score signature (imported like verl imports it), and the settings for each preset."""

from __future__ import annotations

import importlib.util
import json

import pytest
import yaml

from medix_r1.training.config import apply_overrides
from medix_r1.training.presets import get_preset


@pytest.fixture()
def verl_config(sample_files, tmp_path):
    def make(preset: str, *overrides: str):
        train, test = sample_files
        return apply_overrides(
            get_preset(preset),
            [
                f"data.train={train}",
                f"data.eval={test}",
                "data.train_split=null",
                "data.eval_split=null",
                "reward.judge=fake",
                "reward.embedding_model=hashing",
                f"checkpoint.output_dir={tmp_path / preset}",
                *overrides,
            ],
        )

    return make


def load_module(path):
    spec = importlib.util.spec_from_file_location("medix_reward_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_export_writes_verl_rows(verl_config):
    pq = pytest.importorskip("pyarrow.parquet")
    from medix_r1.training.verl_backend import prepare_verl_run

    run = prepare_verl_run(verl_config("medix-r1-8b-dapo"), max_records=5)
    rows = pq.read_table(run.train_parquet).to_pylist()
    assert len(rows) == 5
    row = rows[0]
    assert set(row) == {"data_source", "prompt", "images", "ability", "reward_model", "extra_info"}
    assert row["prompt"][0]["role"] == "user" and len(row["prompt"]) == 1  # no system message (published)
    content = row["prompt"][0]["content"]
    assert content.count("<image>") == 1 and "<thinking>" in content and "<SPECT>" in content
    assert content.index("Question:") < content.index("<image>")
    assert row["images"][0]["bytes"][:8] == b"\x89PNG\r\n\x1a\n"
    assert row["reward_model"]["style"] == "rule"
    assert row["reward_model"]["ground_truth"].startswith(row["extra_info"]["modality"])
    assert row["extra_info"]["split"] == "train" and row["extra_info"]["index"] == 0
    assert len(pq.read_table(run.val_parquet).to_pylist()) == 5


def test_export_balances_the_prompts_as_the_trl_backend_does(verl_config):
    """data.balance_modalities / balance_steps mean the same on verl: the exported prompts are the TRL
    backend's RL prompts, and a fixed order turns verl's dataloader shuffle off."""
    pq = pytest.importorskip("pyarrow.parquet")
    from medix_r1.data import load_records
    from medix_r1.training.dataset import rl_prompt_options, rl_prompt_records
    from medix_r1.training.verl_backend import prepare_verl_run

    for overrides, shuffle in (((), True), (("data.balance_steps=2",), False)):
        config = verl_config(
            "medix-r1-8b-dapo",
            "data.balance_modalities=true",
            "rollout.prompts_per_step=8",
            "schedule.max_steps=3",
            *overrides,
        )
        run = prepare_verl_run(config)
        expected = rl_prompt_records(load_records(config.data.train), **rl_prompt_options(config))
        rows = pq.read_table(run.train_parquet).to_pylist()
        assert [r["extra_info"]["id"] for r in rows] == [r.id for r in expected]
        tags = {r["extra_info"]["modality"] for r in rows}
        assert len(tags) > 1
        assert f"data.shuffle={shuffle}" in run.overrides


def test_think_preset_changes_the_prompt_tags(verl_config):
    pq = pytest.importorskip("pyarrow.parquet")
    from medix_r1.training.verl_backend import prepare_verl_run

    run = prepare_verl_run(verl_config("medix-r1-2b-dapo", "reward.preset=medix-r1-think"), max_records=1)
    content = pq.read_table(run.train_parquet).to_pylist()[0]["prompt"][0]["content"]
    assert "<think>" in content and "<thinking>" not in content


def reward_kwargs(run) -> dict:
    """The reward settings as verl passes them: the +reward.custom_reward_function.reward_kwargs.* overrides."""
    prefix = "+reward.custom_reward_function.reward_kwargs."
    out: dict = {}
    for override in run.overrides:
        if override.startswith(prefix):
            key, value = override[len(prefix) :].split("=", 1)
            parsed = yaml.safe_load(value)
            if "." in key:
                outer, inner = key.split(".", 1)
                out.setdefault(outer, {})[inner] = parsed
            else:
                out[key] = parsed
    return out


def test_reward_is_the_package_module_with_settings_inline(verl_config):
    from medix_r1.integrations import verl
    from medix_r1.rewards.config import load_reward_config
    from medix_r1.training.verl_backend import prepare_verl_run

    run = prepare_verl_run(verl_config("medix-r1-8b-dapo"), max_records=1)
    assert "reward.custom_reward_function.path=pkg://medix_r1.integrations.verl" in run.command
    assert "reward.custom_reward_function.name=acompute_score" in run.command
    assert not list(run.run_dir.glob("*.py"))  # the run folder carries settings only
    kwargs = reward_kwargs(run)
    assert kwargs["judge"] == "fake" and kwargs["embedding_model"] == "hashing"
    assert load_reward_config(run.reward_config).model_dump(mode="json", exclude_none=True) == kwargs
    good = "<X_RAY><thinking>Dense lung.</thinking><answer>Left lung</answer>"
    one = verl.compute_score("slake", good, "<X_RAY> Left lung", {"modality": "<X_RAY>"}, **kwargs)
    assert one["score"] == pytest.approx(1.0)
    assert (one["format"], one["accuracy_llm"], one["modality"]) == (1.0, 1.0, 1.0)
    rows = verl.compute_score_batch(
        ["a", "b"],
        [good, "<CT_SCAN><thinking>x</thinking><answer>Liver</answer>"],
        ["<X_RAY> Left lung", "<X_RAY> Spleen"],
        [None, None],
        **kwargs,
    )
    # second: format 1, wrong modality, wrong answer -> 0.1 (published weights)
    assert [round(r["score"], 4) for r in rows] == [1.0, 0.1]


def test_weights_travel_with_the_reward_settings(verl_config, train_cache, monkeypatch):
    from medix_r1.integrations import verl
    from medix_r1.models.cache import CACHE_ENV
    from medix_r1.rewards.config import load_reward_config
    from medix_r1.training.verl_backend import prepare_verl_run

    monkeypatch.setenv(CACHE_ENV, str(train_cache))
    run = prepare_verl_run(verl_config("quickstart"), max_records=1)
    kwargs = reward_kwargs(run)
    assert kwargs["weights"] == get_preset("quickstart").reward.weights
    # reward.yaml (read by the EasyR1 line) now loads: weights are a RewardConfig field.
    assert load_reward_config(run.reward_config).weights == kwargs["weights"]
    # right format and modality, wrong answer: the quickstart's format + modality weights (0.1 + 0.8)
    row = verl.compute_score(
        "s", "<X_RAY><thinking>x</thinking><answer>Spleen</answer>", "<X_RAY> Left lung", **kwargs
    )
    assert row["score"] == pytest.approx(kwargs["weights"]["format"] + kwargs["weights"]["modality"])
    assert row["score"] == pytest.approx(0.9)
    # the built-in model is materialised into the run folder, and verl is pointed there
    assert run.model_path == str(run.run_dir / "model")
    assert (run.run_dir / "model" / "config.json").is_file()
    assert f"actor_rollout_ref.model.path={run.run_dir / 'model'}" in run.command


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        (
            "medix-r1-8b-dapo",
            {
                "actor_rollout_ref.actor.clip_ratio_low": 0.2,
                "actor_rollout_ref.actor.clip_ratio_high": 0.28,
                "actor_rollout_ref.actor.use_kl_loss": False,
                "actor_rollout_ref.actor.loss_agg_mode": "token-mean",
                "algorithm.filter_groups.enable": True,
                "algorithm.filter_groups.metric": "reward",
                "data.train_batch_size": 512,
                "actor_rollout_ref.rollout.n": 5,
                "actor_rollout_ref.actor.ppo_mini_batch_size": 128,
                "actor_rollout_ref.actor.optim.lr": 1e-6,
                "actor_rollout_ref.rollout.val_kwargs.temperature": 0.6,
                "trainer.n_gpus_per_node": 8,
                "trainer.total_epochs": 2,
                "trainer.save_freq": 5,
                "trainer.test_freq": 5,
                "data.max_prompt_length": 4352,
                "data.max_response_length": 4096,
                "actor_rollout_ref.model.path": "Qwen/Qwen3-VL-8B-Instruct",
            },
        ),
        (
            "medix-r1-8b-grpo",
            {
                "actor_rollout_ref.actor.use_kl_loss": True,
                "actor_rollout_ref.actor.kl_loss_coef": 0.01,
                "actor_rollout_ref.actor.kl_loss_type": "low_var_kl",
                "actor_rollout_ref.actor.clip_ratio_high": 0.3,
            },
        ),
        (
            "qwen2.5-vl-7b-gspo",
            {
                "actor_rollout_ref.actor.policy_loss.loss_mode": "gspo",
                "actor_rollout_ref.actor.clip_ratio_low": 3e-4,
                "actor_rollout_ref.actor.clip_ratio_high": 4e-4,
                "actor_rollout_ref.actor.loss_agg_mode": "seq-mean-token-mean",
            },
        ),
        ("medix-r1-30b-dapo", {"actor_rollout_ref.rollout.tensor_model_parallel_size": 8}),
    ],
)
def test_settings_match_the_preset(verl_config, preset, expected):
    from medix_r1.training.verl_backend import _flatten, prepare_verl_run

    run = prepare_verl_run(verl_config(preset), max_records=1)
    flat: dict = {}
    _flatten("", yaml.safe_load(run.overrides_file.read_text()), flat)
    for key, value in expected.items():
        assert flat[key] == value, key
    assert flat["reward.custom_reward_function.path"] == "pkg://medix_r1.integrations.verl"
    assert flat["reward.reward_manager.name"] == "naive"
    # verl 0.9's V1 trainer ignores these with filter_groups on; they are not written.
    assert "data.gen_batch_size" not in flat and "algorithm.filter_groups.max_num_gen_batches" not in flat
    assert not any(k.startswith(("custom_reward_function", "reward_model")) for k in flat)  # legacy keys
    # every DAPO preset runs verl's own entry point (no verl wheel ships recipe/)
    assert run.command[:3] == ["python3", "-m", "verl.trainer.main_ppo"]
    script = run.launch_script.read_text()
    assert (
        script.startswith("#!/bin/bash")
        and '"${PYTHON:-python3}" \\\n    -m \\\n    verl.trainer.main_ppo' in script
    )
    assert script.rstrip().endswith('"$@"')


def test_ray_address_wraps_the_command_in_a_job(verl_config):
    from medix_r1.training.verl_backend import prepare_verl_run

    run = prepare_verl_run(
        verl_config("medix-r1-8b-dapo", "verl.ray_address=http://head:8265", "verl.nnodes=4"), max_records=1
    )
    assert run.command[:4] == ["ray", "job", "submit", "--address=http://head:8265"]
    assert "trainer.nnodes=4" in run.command
    assert json.loads(run.command[4].split("=", 1)[1])["env_vars"]["PYTHONUNBUFFERED"] == "1"


def test_easyr1_drop_in_note_points_at_our_reward(verl_config):
    from medix_r1.training.verl_backend import prepare_verl_run

    run = prepare_verl_run(verl_config("medix-r1-8b-dapo"), max_records=1)
    text = (run.run_dir / "easyr1_reward.sh").read_text()
    assert "worker.reward.reward_function=${MEDIX_REWARD}:compute_score" in text
    assert f"MEDIX_R1_REWARD_CONFIG={run.reward_config}" in text


def test_launch_preflight_names_what_is_missing(verl_config, monkeypatch):
    from medix_r1.training import verl_backend
    from medix_r1.training.verl_backend import VerlPreflightError, launch_verl, prepare_verl_run

    run = prepare_verl_run(verl_config("medix-r1-8b-dapo"), max_records=1)
    started = []
    monkeypatch.setattr(verl_backend.subprocess, "call", lambda *a, **k: started.append(a) or 0)
    if importlib.util.find_spec("verl") is not None:
        pytest.skip("verl is installed here (the verl venv checks the preflight against it)")
    with pytest.raises(VerlPreflightError) as info:
        launch_verl(run)
    message = str(info.value)
    assert "nothing was started" in message and not started
    assert "entry point verl.trainer.main_ppo: the Python package 'verl' is not installed" in message
    assert "pip install 'medix-r1[verl]'" in message
    assert "rollout engine 'vllm'" in message and "pip install 'medix-r1[verl-vllm]'" in message
    # a hub id offline, and a folder without config.json, are named too
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert any("is a hub id but HF_HUB_OFFLINE=1" in p for p in verl_backend.preflight(run))
    run.model_path = str(run.run_dir)
    assert any(f"model path {run.run_dir}: no config.json" in p for p in verl_backend.preflight(run))


def test_reward_entries_take_what_verl_passes():
    import asyncio

    import numpy as np

    from medix_r1.integrations import verl

    opts = {"judge": "fake", "embedding_model": "hashing"}
    good = "<X_RAY><thinking>x</thinking><answer>Left lung</answer>"
    # verl hands extra_info to batch functions as a numpy object array; a dict of columns works too.
    infos = np.array([{"modality": "<X_RAY>"}, {"modality": "X_RAY"}], dtype=object)
    rows = verl.compute_score_batch(["a", "b"], [good, good], ["<X_RAY> Left lung"] * 2, infos, **opts)
    assert [r["score"] for r in rows] == [1.0, 1.0]
    columns = {"modality": np.array(["<X_RAY>", "<X_RAY>"], dtype=object), "index": [0, 1]}
    assert (
        len(verl.compute_score_batch(["a"] * 2, [good] * 2, ["<X_RAY> Left lung"] * 2, columns, **opts)) == 2
    )
    # keyword arguments verl's managers add are accepted; anything else names itself.
    kw = {"reward_router_address": None, "reward_model_tokenizer": None, "max_resp_len": 4096}
    assert verl.compute_score("a", good, "<X_RAY> Left lung", None, **opts, **kw)["score"] == 1.0
    with pytest.raises(ValueError, match="judge_urll"):
        verl.compute_score("a", good, "<X_RAY> Left lung", None, judge_urll="x", **opts)

    # The async entry: concurrent per-sample calls (as verl's reward loop makes them) share batches.
    async def many():
        return await asyncio.gather(
            *(
                verl.acompute_score("a", good, "<X_RAY> Left lung", {"modality": "<X_RAY>"}, **opts)
                for _ in range(5)
            ),
            verl.acompute_score("a", "<CT_SCAN> femur", "<X_RAY> Left lung", None, **opts),
        )

    results = asyncio.run(many())
    assert [r["score"] for r in results] == [1.0] * 5 + [0.0]
