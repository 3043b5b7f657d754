"""Training config: presets carry the published numbers, validation fails early with useful messages,
overrides and YAML files compose, and the TRL arguments follow the algorithm."""

from __future__ import annotations

import pytest

from medix_r1.training.config import ConfigError, TrainConfig, apply_overrides, config_to_yaml
from medix_r1.training.config_loading import load_config
from medix_r1.training.presets import PRESETS, get_preset

PUBLISHED = (
    "medix-r1-2b-dapo",
    "medix-r1-8b-dapo",
    "medix-r1-8b-grpo",
    "medix-r1-30b-dapo",
    "qwen2.5-vl-7b-gspo",
)


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_loads_and_round_trips_through_yaml(name, tmp_path):
    config = get_preset(name)
    path = tmp_path / "c.yaml"
    path.write_text(config_to_yaml(config), encoding="utf-8")
    assert load_config(path) == config
    assert load_config(name) == config


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_presets_share_the_recipe(name):
    c = get_preset(name)
    # reference section 4: 512 prompts x 5, T 1.0 / top_p 1.0, 4352 / 4096 tokens, AdamW 1e-6 constant,
    # wd 0.01, clip 1.0, 4 updates per step, vision tower trained, 2 epochs, validation every 5 steps.
    assert (c.rollout.prompts_per_step, c.rollout.group_size) == (512, 5)
    assert (c.rollout.temperature, c.rollout.top_p) == (1.0, 1.0)
    assert (c.rollout.max_prompt_length, c.rollout.max_completion_length) == (4352, 4096)
    assert (c.model.min_pixels, c.model.max_pixels) == (512 * 512, 2048 * 2048)
    assert (c.optim.learning_rate, c.optim.lr_scheduler, c.optim.weight_decay) == (1e-6, "constant", 0.01)
    assert (c.optim.max_grad_norm, c.optim.updates_per_step) == (1.0, 4)
    assert c.model.freeze_vision_tower is False and c.model.lora.enabled is False
    assert (c.schedule.epochs, c.validation.every, c.validation.temperature, c.validation.top_p) == (
        2.0,
        5,
        0.6,
        0.95,
    )
    assert (c.checkpoint.save_every, c.checkpoint.save_limit) == (5, 3)
    assert c.reward.preset == "medix-r1" and c.reward.weights is None and c.differs is None
    assert c.uses_published_reward


@pytest.mark.parametrize(
    ("name", "model", "algorithm", "beta", "clip", "loss", "level", "filtering"),
    [
        ("medix-r1-2b-dapo", "Qwen/Qwen3-VL-2B-Instruct", "dapo", 0.0, (0.2, 0.28), "dapo", "token", True),
        ("medix-r1-8b-dapo", "Qwen/Qwen3-VL-8B-Instruct", "dapo", 0.0, (0.2, 0.28), "dapo", "token", True),
        (
            "medix-r1-30b-dapo",
            "Qwen/Qwen3-VL-30B-A3B-Thinking",
            "dapo",
            0.0,
            (0.2, 0.28),
            "dapo",
            "token",
            True,
        ),
        # GRPO: KL 0.01, clip 0.2/0.3, token-mean aggregation as EasyR1 does (TRL's "dapo" loss_type)
        ("medix-r1-8b-grpo", "Qwen/Qwen3-VL-8B-Instruct", "grpo", 0.01, (0.2, 0.3), "dapo", "token", False),
        # GSPO: sequence-level ratio, clip 3e-4/4e-4, sequence-mean loss
        (
            "qwen2.5-vl-7b-gspo",
            "Qwen/Qwen2.5-VL-7B-Instruct",
            "gspo",
            0.0,
            (3e-4, 4e-4),
            "grpo",
            "sequence",
            False,
        ),
    ],
)
def test_published_algorithms(name, model, algorithm, beta, clip, loss, level, filtering):
    c = get_preset(name)
    a = c.algorithm
    assert c.model.name == model
    assert (a.name, a.beta, (a.epsilon, a.epsilon_high)) == (algorithm, beta, clip)
    assert (a.resolved_loss_type(), a.resolved_sampling_level()) == (loss, level)
    assert (a.name == "dapo" and a.dynamic_filtering) is filtering
    if filtering:
        assert (a.filter_low, a.filter_high, a.filter_refill_prompts, a.filter_max_tries) == (
            0.01,
            0.99,
            128,
            20,
        )


def test_quickstart_says_how_it_differs():
    c = get_preset("quickstart")
    assert c.differs and "modality 0.8" in c.differs and "trimmed" in c.differs
    assert c.data.balance_steps == 400 and c.data.balance_power == 0 and "then as found" in c.differs
    assert c.optim.cpu_threads == 1  # faster on the tiny model, and the same on any core count
    assert c.reward.judge == "fake" and c.reward.weights["modality"] == 0.8
    assert c.model.name == "tiny-qwen2-vl-samples" and c.model.single_token_tags
    assert not c.uses_published_reward
    assert c.warmstart.enabled and c.warmstart.tag_policy == "random"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["rollout.grup_size=8"],
            "unknown config key 'rollout.grup_size'; did you mean 'rollout.group_size'?",
        ),
        (["rollout.group_size"], "is not key=value"),
        (["rollout.group_size=1"], "rollout.group_size: Input should be greater than or equal to 2 (got 1)"),
        (["algorithm.name=ppo"], "algorithm.name: Input should be 'grpo', 'dapo', 'gspo' or 'dr_grpo'"),
        (["rollout.group_size=7"], "= 56 completions per step, which does not split into"),
        (["algorithm.filter_low=0.9", "algorithm.filter_high=0.5"], "must be below algorithm.filter_high"),
        (
            ["algorithm.name=gspo", "algorithm.importance_sampling_level=token"],
            "needs importance_sampling_level",
        ),
        (["algorithm.epsilon=0.3", "algorithm.epsilon_high=0.2"], "is below algorithm.epsilon"),
        (["rollout.engine=vllm", "rollout.vllm_mode=server"], "needs rollout.vllm_server_url"),
        (
            ["reward.weights={modality: 0.5, formatt: 0.1}"],
            "unknown component 'formatt'; did you mean 'format'?",
        ),
        (["reward.judge=openai", "reward.judge_url=null"], "judge 'openai' needs judge_url"),
        (["reward.preset=medix-r2"], "unknown reward preset 'medix-r2'"),
        (["model.min_pixels=5000", "model.max_pixels=4000"], "is above model.max_pixels"),
    ],
)
def test_validation_errors_name_the_key_and_the_fix(overrides, message):
    with pytest.raises(ConfigError) as err:
        apply_overrides(get_preset("quickstart"), overrides)
    assert message in str(err.value)


def test_unknown_preset_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"; did you mean 'medix-r1-8b-dapo'\?"):
        load_config("medix-r1-8b-dap0")


def test_yaml_file_with_base_preset_and_overrides(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "base: medix-r1-8b-dapo\nname: mine\nrollout:\n  group_size: 8\nreward:\n  weights: {modality: 0.2}\n",
        encoding="utf-8",
    )
    c = load_config(path, ["optim.learning_rate=2e-6"])
    assert (c.name, c.rollout.group_size, c.rollout.prompts_per_step, c.optim.learning_rate) == (
        "mine",
        8,
        512,
        2e-6,
    )
    assert c.reward.weights == {"modality": 0.2} and not c.uses_published_reward
    assert c.algorithm.epsilon_high == 0.28  # inherited from the preset


def test_yaml_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rollout:\n  group_sise: 3\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"rollout.group_sise: unknown key; did you mean 'rollout.group_size'"
    ):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(listing)


def test_batch_arithmetic():
    c = get_preset("medix-r1-8b-dapo")
    # 512 x 5 = 2560 completions, 4 updates of 640, micro-batches of 2 on 8 GPUs -> 40 accumulations
    assert c.completions_per_step == 2560
    assert c.gradient_accumulation(world_size=8) == 40
    with pytest.raises(ValueError, match="does not split"):
        c.check_batches(world_size=7)


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        (
            "medix-r1-8b-dapo",
            {
                "loss_type": "dapo",
                "beta": 0.0,
                "epsilon": 0.2,
                "epsilon_high": 0.28,
                "importance_sampling_level": "token",
                "scale_rewards": "group",
                "num_generations": 5,
            },
        ),
        ("medix-r1-8b-grpo", {"loss_type": "dapo", "beta": 0.01, "epsilon_high": 0.3}),
        (
            "qwen2.5-vl-7b-gspo",
            {"loss_type": "grpo", "importance_sampling_level": "sequence", "epsilon": 3e-4},
        ),
    ],
)
def test_grpo_args_follow_the_algorithm(name, fields, tmp_path):
    pytest.importorskip("trl")
    from medix_r1.training.trl_backend import grpo_args

    c = apply_overrides(get_preset(name), [f"checkpoint.output_dir={tmp_path}"])
    args = grpo_args(c, [0.5175, 0.3375, 0.045, 0.1], world_size=1)
    for key, value in fields.items():
        assert getattr(args, key) == value, key
    # one RL step = 2560 completions = 4 updates x 320 accumulations x 2 per micro-batch
    assert (
        args.per_device_train_batch_size,
        args.gradient_accumulation_steps,
        args.steps_per_generation,
    ) == (2, 320, 1280)
    assert args.generation_batch_size == 2560
    assert args.reward_weights == [0.5175, 0.3375, 0.045, 0.1]


def test_dr_grpo_defaults():
    c = apply_overrides(TrainConfig(), ["algorithm.name=dr_grpo"])
    assert (c.algorithm.resolved_loss_type(), c.algorithm.resolved_scale_rewards()) == ("dr_grpo", "none")
