"""The TRL backend end to end on a tiny Qwen2-VL with real images: 2-step GRPO and DAPO runs change
the trainable weights and write metrics, plot, report and summary; a run resumes from its checkpoint;
a judge outage stops the run with a resumable checkpoint and no trained step."""

from __future__ import annotations

import json
import socket

import pytest

pytest.importorskip("trl", reason="the TRL backend needs the train extra")
pytestmark = pytest.mark.slow


class LengthReward:
    """Test reward: reply length in characters / ``scale`` (at most 1), so a random tiny model's groups
    carry a learning signal (the MediX components all score 0 on random text)."""

    def __init__(self, scale: float = 200.0) -> None:
        self.scale = scale

    def score_rollouts(self, rollouts):
        return [min(1.0, len(r.normalized) / self.scale) for r in rollouts]


def length_composite(config):
    from medix_r1.rewards.composite import CompositeReward, RewardComponent
    from medix_r1.training.trl_backend import build_composite

    real = build_composite(config)
    components = [RewardComponent("length", LengthReward(), 1.0), *real.components]
    return CompositeReward(components, real.fmt, "test-length")


def tensors(path):
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def test_grpo_two_steps_trains_and_records(tiny_config, tiny_model_dir):
    from medix_r1.training.trl_backend import train_trl

    config = tiny_config(
        "algorithm.name=grpo",
        "algorithm.beta=0.01",
        "algorithm.dynamic_filtering=false",
        "algorithm.epsilon_high=0.3",
        "model.freeze_vision_tower=true",
    )
    result = train_trl(config, composite=length_composite(config))
    assert result.steps == 2
    before, after = tensors(tiny_model_dir), tensors(result.final_dir)
    changed = {k for k in before if not (before[k] == after[k]).all()}
    assert any(k.startswith("lm_head") for k in changed) and any(
        k.startswith("model.layers") for k in changed
    )
    assert not any("visual" in k for k in changed), "the vision tower was frozen"

    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    for key in (
        "reward",
        "rewards/length/mean",
        "rewards/format/mean",
        "rewards/accuracy_llm/mean",
        "rewards/accuracy_embed/mean",
        "rewards/modality/mean",
        "completions/mean_length",
        "kl",
        "clip_ratio/region_mean",
        "timing/generation_s",
        "timing/reward_s",
        "timing/step_s",
        "judge/requests",
        "judge/latency_ms",
        "entropy",
    ):
        assert key in rows[0], key
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["span_steps"] == 1
    from medix_r1.judges.prompts import ANSWER_MATCH_TEMPLATE_HASH

    assert summary["judge_prompt_hash"] == ANSWER_MATCH_TEMPLATE_HASH  # the key evaluation rows use
    assert summary["reward_first"] == pytest.approx(round(rows[0]["reward"], 4), abs=1e-4)
    assert (result.run_dir / "reward_curves.png").stat().st_size > 10_000
    report = (result.run_dir / "report.md").read_text()
    assert "algorithm: **grpo**" in report and "beta 0.01" in report
    assert (result.final_dir / "preprocessor_config.json").is_file()


def test_dapo_run_filters_and_refills(tiny_config):
    from medix_r1.training.trl_backend import train_trl

    # Two updates per RL step (as the published recipe has four): TRL then also computes the old
    # log-probs, which the filter must carry through its row selection.
    config = tiny_config(
        "algorithm.name=dapo",
        "algorithm.filter_refill_prompts=2",
        "algorithm.filter_max_tries=2",
        "optim.updates_per_step=2",
        "optim.micro_batch_size=4",
    )
    result = train_trl(config, composite=length_composite(config))
    rows = result.metrics
    assert result.steps == 2
    assert [r["step"] for r in rows] == [1, 2]  # one row per RL step, not per optimiser update
    for row in rows:
        assert row["dapo/groups_seen"] >= 2
        assert 0.0 <= row["dapo/kept_fraction"] <= 1.0
        assert row["dapo/tries"] <= 2
    config_written = (result.run_dir / "config.yaml").read_text()
    assert "dynamic_filtering: true" in config_written


def test_resume_continues_from_the_last_checkpoint(tiny_config):
    from medix_r1.training.trl_backend import find_resume_checkpoint, train_trl

    first = tiny_config(
        "algorithm.dynamic_filtering=false", "checkpoint.save_every=1", "checkpoint.save_limit=2"
    )
    train_trl(first, composite=length_composite(first))
    assert find_resume_checkpoint(first).name == "checkpoint-2"
    longer = tiny_config(
        "algorithm.dynamic_filtering=false", "checkpoint.save_every=1", "schedule.max_steps=3"
    )
    result = train_trl(longer, composite=length_composite(longer))
    assert result.steps == 3
    assert [r["step"] for r in result.metrics] == [1, 2, 3]  # steps 1-2 kept, step 3 appended, no duplicates
    state = json.loads((result.run_dir / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3


def test_resume_from_a_folder_that_is_not_a_checkpoint(tiny_config, tmp_path):
    from medix_r1.training.trl_backend import find_resume_checkpoint

    with pytest.raises(FileNotFoundError, match="no trainer_state.json"):
        find_resume_checkpoint(tiny_config(f"checkpoint.resume={tmp_path}"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_judge_outage_stops_with_a_resumable_checkpoint(tiny_config):
    from medix_r1.rewards.composite import CompositeReward, RewardComponent
    from medix_r1.training.trl_backend import TrainingStopped, build_composite, train_trl

    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens here
    config = tiny_config(
        "reward.judge=openai",
        f"reward.judge_url={url}",
        "reward.judge_retries=0",
        "reward.judge_timeout_s=2",
        "algorithm.dynamic_filtering=false",
    )
    real = build_composite(config)
    # Make every rollout reach the judge: a constant well-formed reply is what the judge is asked about.

    class AlwaysAsk:
        def __init__(self, judge_reward):
            self.inner = judge_reward
            self.judge = judge_reward.judge

        async def ascore_rollouts(self, rollouts):
            from dataclasses import replace

            forced = [replace(r, answer="left lung", shortcut=None) for r in rollouts]
            return await self.inner.ascore_rollouts(forced)

    components = [
        RewardComponent(c.name, AlwaysAsk(c.reward) if c.name == "accuracy_llm" else c.reward, c.weight)
        for c in real.components
    ]
    composite = CompositeReward(components, real.fmt, real.preset)
    with pytest.raises(TrainingStopped) as err:
        train_trl(config, composite=composite)
    message = str(err.value)
    assert url in message and "resumable checkpoint" in message and "on_judge_error=skip" in message
    checkpoint = err.value.checkpoint
    assert checkpoint.name == "checkpoint-0" and (checkpoint / "trainer_state.json").is_file()
    metrics = config.output_dir / "metrics.jsonl"
    assert not metrics.exists() or metrics.read_text() == ""  # no step was trained or logged


def test_kl_reference_is_the_warm_started_policy(tiny_config, monkeypatch):
    """With a KL term, the reference is the policy as RL starts: at the first step (before any update)
    the logged KL is exactly 0. A reference rebuilt from the model's path (the untrained model) would
    give a large KL there."""
    from medix_r1.training import trl_backend
    from medix_r1.training.trl_backend import TrainingStopped, train_trl

    sources = []
    original = trl_backend.set_reference

    def recording(trainer, source):
        sources.append(source)
        return original(trainer, source)

    monkeypatch.setattr(trl_backend, "set_reference", recording)
    overrides = (
        "algorithm.beta=0.1",
        "algorithm.dynamic_filtering=false",
        "warmstart.enabled=true",
        "warmstart.steps=3",
        "warmstart.batch_size=2",
        "warmstart.learning_rate=0.01",
        "checkpoint.save_every=1",
    )
    config = tiny_config(*overrides, "schedule.max_steps=1")
    result = train_trl(config, composite=length_composite(config))
    assert result.metrics[0]["kl"] == pytest.approx(0.0, abs=1e-6)
    assert (result.run_dir / "warmstart" / "config.json").is_file()

    # Resuming skips the warm-start and reads the reference back from run_dir/warmstart ...
    longer = tiny_config(*overrides, "schedule.max_steps=2")
    resumed = train_trl(longer, composite=length_composite(longer))
    assert [r["step"] for r in resumed.metrics] == [1, 2]
    assert sources[-1] == result.run_dir / "warmstart"
    # ... and refuses to resume with a different one when that folder is gone.
    import shutil

    shutil.rmtree(result.run_dir / "warmstart")
    third = tiny_config(*overrides, "schedule.max_steps=3")
    with pytest.raises(TrainingStopped, match="KL reference is the warm-started policy"):
        train_trl(third, composite=length_composite(third))


def test_set_reference_copies_weights_from_a_model_or_a_folder(tiny_config, tiny_model_dir, tmp_path):
    import torch

    from medix_r1.models import load_policy, save_policy
    from medix_r1.training.trl_backend import make_trainer, set_reference

    config = tiny_config("algorithm.beta=0.1", "algorithm.dynamic_filtering=false")
    trainer, _ = make_trainer(config, composite=length_composite(config))
    ref = trainer.accelerator.unwrap_model(trainer.ref_model)
    with torch.no_grad():
        for p in trainer.model.parameters():
            p.add_(0.5)
    assert set_reference(trainer, trainer.model)
    name, value = next(iter(trainer.model.state_dict().items()))
    assert torch.equal(ref.state_dict()[name], value)

    other, processor = load_policy(str(tiny_model_dir), dtype="float32", device="cpu")
    folder = save_policy(other, processor, tmp_path / "other")
    assert set_reference(trainer, folder)
    assert torch.equal(ref.state_dict()[name], other.state_dict()[name])

    no_kl = tiny_config("algorithm.dynamic_filtering=false")
    trainer0, _ = make_trainer(no_kl, composite=length_composite(no_kl))
    assert not set_reference(trainer0, trainer0.model)


def test_balanced_then_as_found_prompts_reach_trl_in_their_order(tiny_config):
    """data.balance_steps: the balanced prompts come first and TRL's own sampler keeps the order."""
    from medix_r1.data import load_records
    from medix_r1.training.dataset import rl_prompt_options, rl_prompt_records, rl_prompts_ordered
    from medix_r1.training.trl_backend import make_trainer

    config = tiny_config("data.balance_modalities=true", "data.balance_steps=1", "schedule.max_steps=3")
    trainer, _ = make_trainer(config)
    assert trainer.args.shuffle_dataset is False
    expected = rl_prompt_records(load_records(config.data.train), **rl_prompt_options(config))
    assert rl_prompts_ordered(config) and len(expected) == 3 * config.rollout.prompts_per_step
    assert trainer.train_dataset["id"] == [r.id for r in expected]
    # TRL's RepeatSampler: each prompt group_size times, prompts in the dataset's order.
    indices = list(trainer._get_train_sampler())
    assert list(dict.fromkeys(indices)) == list(range(len(expected)))
    assert all(indices.count(i) == config.rollout.group_size for i in set(indices))
    # The trainer's policy encodes each distinct image of a batch once (models.shared_images).
    assert trainer.model.model.get_image_features.__func__.__name__ == "_features_once"


def test_without_balance_steps_trl_shuffles_as_before(tiny_config):
    from medix_r1.training.dataset import rl_prompts_ordered
    from medix_r1.training.trl_backend import grpo_args

    cases = (
        ("data.balance_steps=null",),
        ("data.balance_modalities=true", "data.balance_steps=null"),
        ("data.balance_modalities=false", "data.balance_steps=5"),
    )
    for overrides in cases:
        config = tiny_config(*overrides)
        assert not rl_prompts_ordered(config)
        assert grpo_args(config, [1.0, 1.0, 1.0, 1.0]).shuffle_dataset is True


def test_cpu_threads_set_torch_threads_on_a_cpu_and_only_then(tiny_config, monkeypatch):
    import torch

    from medix_r1.training import trl_backend

    before = torch.get_num_threads()
    try:
        assert (
            trl_backend.set_cpu_threads(tiny_config("optim.cpu_threads=null")) is None
        )  # PyTorch's default kept
        assert torch.get_num_threads() == before
        assert trl_backend.set_cpu_threads(tiny_config("optim.cpu_threads=1")) == 1
        assert torch.get_num_threads() == 1
        torch.set_num_threads(before)
        monkeypatch.setattr(trl_backend, "_has_cuda", lambda: True)
        assert trl_backend.set_cpu_threads(tiny_config("optim.cpu_threads=1")) is None
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(before)
