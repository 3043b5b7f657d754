"""Each engine adapter called through its engine's real signature, and a 2-step TRL GRPO run."""

from __future__ import annotations

import inspect
import math

import pytest

from medix_r1.embedders import HashingEmbedder
from medix_r1.integrations import easyr1, verl
from medix_r1.integrations.engine_config import CONFIG_ENV
from medix_r1.integrations.trl import trl_reward_funcs
from medix_r1.judges import AnswerMatchJudge, FakeChatBackend
from medix_r1.rewards import build_reward
from medix_r1.training.metrics import reward_metric_key

GOOD = "<X_RAY><thinking>film</thinking><answer>left lung</answer>"
BAD = "<CT_SCAN> femur"
SOL = "<X_RAY> Left lung."
OFFLINE = {"judge": "fake", "embedding_model": "hashing"}


@pytest.fixture(autouse=True)
def _no_config_file(monkeypatch):
    monkeypatch.delenv(CONFIG_ENV, raising=False)


def test_verl_per_sample_signature() -> None:
    # verl's NaiveRewardManager calls compute_score(data_source=, solution_str=, ground_truth=, extra_info=, **reward_kwargs)
    params = list(inspect.signature(verl.compute_score).parameters)
    assert params[:4] == ["data_source", "solution_str", "ground_truth", "extra_info"]
    result = verl.compute_score(
        data_source="slake", solution_str=GOOD, ground_truth=SOL, extra_info={"index": 0}, **OFFLINE
    )
    assert result == {
        "score": 1.0,
        "format": 1.0,
        "accuracy_llm": 1.0,
        "accuracy_embed": 1.0,
        "modality": 1.0,
        "unscored": 0.0,
    }
    bad = verl.compute_score("slake", BAD, SOL, None, **OFFLINE)
    # No reasoning tag: format 0 and modality 0; the answer is the whole response, not a match.
    assert bad["format"] == 0.0 and bad["modality"] == 0.0 and bad["score"] == pytest.approx(0.0)


def test_verl_batch_signature_and_modality_in_extra_info() -> None:
    results = verl.compute_score_batch(
        data_sources=["a", "b"],
        solution_strs=[GOOD, GOOD],
        ground_truths=["Left lung", SOL],
        extra_infos=[{"modality": "CR"}, {}],
        **OFFLINE,
    )
    assert [r["score"] for r in results] == [1.0, 1.0]


def test_easyr1_drop_in(tmp_path, monkeypatch) -> None:
    config = tmp_path / "reward.yaml"
    config.write_text("judge: fake\nembedding_model: hashing\n")
    monkeypatch.setenv(CONFIG_ENV, str(config))
    inputs = [
        {"response": GOOD, "response_length": 12, "ground_truth": SOL},
        {"response": BAD, "response_length": 4, "ground_truth": SOL},
    ]
    out = easyr1.compute_score(inputs)
    assert list(out[0]) == ["overall", "format", "accuracy_llm", "accuracy_embed", "modality", "unscored"]
    assert out[0]["overall"] == 1.0
    # A different format weight splits the rest 0.575 / 0.375 / 0.05 as the published file does.
    out = easyr1.compute_score(inputs[:1], format_weight=0.2)
    assert out[0]["overall"] == pytest.approx(0.8 * 0.575 + 0.8 * 0.375 + 0.8 * 0.05 + 0.2)
    with pytest.raises(ValueError, match="REWARD_TYPE = .batch."):
        easyr1.compute_score(inputs[0])
    with pytest.raises(ValueError, match="no 'ground_truth'"):
        easyr1.compute_score([{"response": GOOD}])


def test_engines_never_get_zero_for_an_outage() -> None:
    # Judge down, skip policy: the judge part is NaN and flagged; overall is the sum of the scored
    # parts (no re-weighting), so a wrong answer scores what it scores with the judge up.
    options = {
        "judge": "openai",
        "judge_url": "http://127.0.0.1:9/v1",
        "judge_retries": 0,
        "embedding_model": "hashing",
        "on_judge_error": "skip",
    }
    [row] = easyr1.compute_score(
        [{"response": GOOD.replace("left lung", "the left lung"), "ground_truth": SOL}], **options
    )
    assert math.isnan(row["accuracy_llm"]) and row["unscored"] == 1.0
    # The three scored components, not re-weighted (the hashing embedder finds no match here).
    assert row["accuracy_embed"] == 0.0
    assert row["overall"] == pytest.approx(0.045 + 0.1)
    from medix_r1.judges import JudgeUnavailableError

    with pytest.raises(JudgeUnavailableError, match="127.0.0.1:9"):
        easyr1.compute_score(
            [{"response": GOOD.replace("left lung", "a left lung"), "ground_truth": SOL}],
            **{**options, "on_judge_error": "raise"},
        )


def test_trl_reward_funcs_shape() -> None:
    composite = build_reward(
        "medix-r1", judge=AnswerMatchJudge(FakeChatBackend()), embedder=HashingEmbedder()
    )
    funcs, weights = trl_reward_funcs(composite)
    assert [f.__name__ for f in funcs] == ["accuracy_llm", "accuracy_embed", "modality", "format"]
    assert weights == pytest.approx([0.5175, 0.3375, 0.045, 0.1])
    from trl.trainer.utils import get_callable_name, is_async_callable

    assert [get_callable_name(f) for f in funcs] == ["accuracy_llm", "accuracy_embed", "modality", "format"]
    assert all(is_async_callable(f) for f in funcs)  # TRL gathers them concurrently


@pytest.mark.slow
def test_trl_grpo_two_steps_changes_trainable_parameters(tmp_path) -> None:
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from medix_r1.models import load_policy, tiny_vlm_dir

    model_dir = tiny_vlm_dir("qwen2-vl", cache_dir=tmp_path / "cache")
    model, processor = load_policy(model_dir)
    # A random tiny model earns 0 on every binary component, which gives no advantage to learn from;
    # the soft preset's continuous similarity differs between completions.
    composite = build_reward(
        "medix-r1-soft", judge=AnswerMatchJudge(FakeChatBackend()), embedder=HashingEmbedder()
    )
    funcs, weights = trl_reward_funcs(composite)
    rows = [
        {
            "prompt": [{"role": "user", "content": [{"type": "text", "text": f"Which organ? case {i}"}]}],
            "solution": "<X_RAY> left lung",
        }
        for i in range(4)
    ]
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"),
        use_cpu=True,
        max_steps=2,
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=16,
        learning_rate=1e-2,
        logging_steps=1,
        report_to=[],
        reward_weights=weights,
        save_strategy="no",
        temperature=1.0,
        seed=0,
    )
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=funcs,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=processor,
    )
    trainer.train()
    changed = [
        n for n, p in trainer.model.named_parameters() if p.requires_grad and not torch.equal(p, before[n])
    ]
    assert changed, "no trainable parameter changed after two GRPO steps"
    logged = {k for entry in trainer.state.log_history for k in entry}
    for name in ("accuracy_llm", "accuracy_embed", "modality", "format"):
        assert reward_metric_key(name) in logged  # the key alarms and plots read is the one TRL logs
    assert "judge/requests" in logged
