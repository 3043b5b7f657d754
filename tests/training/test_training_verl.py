"""verl backend, the parts that run on a CPU: parquet export in verl's layout, the reward file with
verl's compute_score signature (imported like verl imports it), and the settings for each preset."""

from __future__ import annotations

import importlib.util
import json

import pytest

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


def test_think_preset_changes_the_prompt_tags(verl_config):
    pq = pytest.importorskip("pyarrow.parquet")
    from medix_r1.training.verl_backend import prepare_verl_run

    run = prepare_verl_run(verl_config("medix-r1-2b-dapo", "reward.preset=medix-r1-think"), max_records=1)
    content = pq.read_table(run.train_parquet).to_pylist()[0]["prompt"][0]["content"]
    assert "<think>" in content and "<thinking>" not in content


def test_reward_file_has_verls_signature_and_exact_scores(verl_config):
    from medix_r1.training.verl_backend import prepare_verl_run

    run = prepare_verl_run(verl_config("medix-r1-8b-dapo"), max_records=1)
    module = load_module(run.reward_file)
    good = "<X_RAY><thinking>Dense lung.</thinking><answer>Left lung</answer>"
    one = module.compute_score("slake", good, "<X_RAY> Left lung", {"modality": "<X_RAY>"})
    assert one["score"] == pytest.approx(1.0)
    assert (one["format"], one["accuracy_llm"], one["modality"]) == (1.0, 1.0, 1.0)
    rows = module.compute_score_batch(
        ["a", "b"],
        [good, "<CT_SCAN><thinking>x</thinking><answer>Liver</answer>"],
        ["<X_RAY> Left lung", "<X_RAY> Spleen"],
        [None, None],
    )
    # second: format 1, wrong modality, wrong answer -> 0.1 (published weights)
    assert [round(r["score"], 4) for r in rows] == [1.0, 0.1]


def test_reward_file_applies_weight_overrides(verl_config):
    from medix_r1.training.verl_backend import prepare_verl_run

    run = prepare_verl_run(verl_config("quickstart"), max_records=1)
    module = load_module(run.reward_file)
    from medix_r1.training.presets import QUICKSTART_WEIGHTS

    # right format and modality, wrong answer: format + modality with the quickstart weights
    row = module.compute_score(
        "s", "<X_RAY><thinking>x</thinking><answer>Spleen</answer>", "<X_RAY> Left lung"
    )
    assert row["score"] == pytest.approx(QUICKSTART_WEIGHTS["format"] + QUICKSTART_WEIGHTS["modality"])
    assert row["score"] == pytest.approx(0.7)


@pytest.mark.parametrize(
    ("preset", "expected", "entry"),
    [
        (
            "medix-r1-8b-dapo",
            {
                "actor_rollout_ref.actor.clip_ratio_low": 0.2,
                "actor_rollout_ref.actor.clip_ratio_high": 0.28,
                "actor_rollout_ref.actor.use_kl_loss": False,
                "actor_rollout_ref.actor.loss_agg_mode": "token-mean",
                "algorithm.filter_groups.enable": True,
                "algorithm.filter_groups.max_num_gen_batches": 20,
                "data.gen_batch_size": 128,
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
            },
            "recipe.dapo.main_dapo",
        ),
        (
            "medix-r1-8b-grpo",
            {
                "actor_rollout_ref.actor.use_kl_loss": True,
                "actor_rollout_ref.actor.kl_loss_coef": 0.01,
                "actor_rollout_ref.actor.kl_loss_type": "low_var_kl",
                "actor_rollout_ref.actor.clip_ratio_high": 0.3,
            },
            "verl.trainer.main_ppo",
        ),
        (
            "qwen2.5-vl-7b-gspo",
            {
                "actor_rollout_ref.actor.policy_loss.loss_mode": "gspo",
                "actor_rollout_ref.actor.clip_ratio_low": 3e-4,
                "actor_rollout_ref.actor.clip_ratio_high": 4e-4,
                "actor_rollout_ref.actor.loss_agg_mode": "seq-mean-token-mean",
            },
            "verl.trainer.main_ppo",
        ),
        (
            "medix-r1-30b-dapo",
            {"actor_rollout_ref.rollout.tensor_model_parallel_size": 8},
            "recipe.dapo.main_dapo",
        ),
    ],
)
def test_settings_match_the_preset(verl_config, preset, expected, entry):
    import yaml

    from medix_r1.training.verl_backend import _flatten, prepare_verl_run

    run = prepare_verl_run(verl_config(preset), max_records=1)
    flat: dict = {}
    _flatten("", yaml.safe_load(run.overrides_file.read_text()), flat)
    for key, value in expected.items():
        assert flat[key] == value, key
    assert flat["custom_reward_function.path"] == str(run.reward_file)
    assert flat["custom_reward_function.name"] == "compute_score_batch"
    assert run.command[:3] == ["python3", "-m", entry]
    assert f"custom_reward_function.path={run.reward_file}" in run.command
    script = run.launch_script.read_text()
    assert script.startswith("#!/bin/bash") and entry in script


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


def test_launch_without_verl_names_the_extra(verl_config):
    from medix_r1.models.extras import MissingExtraError
    from medix_r1.training.verl_backend import launch_verl, prepare_verl_run

    if importlib.util.find_spec("verl") is not None:
        pytest.skip("verl is installed here")
    run = prepare_verl_run(verl_config("medix-r1-8b-dapo"), max_records=1)
    with pytest.raises(MissingExtraError, match=r"pip install 'medix-r1\[verl\]'"):
        launch_verl(run)
