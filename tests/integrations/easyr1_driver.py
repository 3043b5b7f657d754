"""Run EasyR1's own config classes and reward manager with medix-r1's reward file; print JSON.

    cd EASYR1_CHECKOUT && PYTHON tests/integrations/easyr1_driver.py

Run by tests/integrations/test_integrations_easyr1.py in a Python that has EasyR1's requirements
(omegaconf 2.3, transformers <= 4.57, ray, tensordict) and medix-r1, from the root of an EasyR1
checkout (hiyouga/EasyR1, or ``training/`` of the published MediX-R1 repository), which is not on
the package index. Only EasyR1's classes are used; this file is ours.
"""

from __future__ import annotations

import json
import os
import sys
import types
from typing import Any

CASES = [
    ("<X_RAY><thinking>film</thinking><answer>left lung</answer>", "<X_RAY> Left lung."),
    ("<X_RAY> <thinking>film</thinking> <answer>the left lung</answer>", "<X_RAY> left lung"),
    ("<CT_SCAN><thinking>a</thinking><answer>femur</answer>", "<X_RAY> left lung"),
    ("<X_RAY><thinking>a</thinking><answer>B</answer>", "<X_RAY> B"),
    ("no tags at all, left lung", "<X_RAY> left lung"),
    (
        "<MRI_SCAN><thinking>t</thinking><answer>lesion in liver</answer> trailing",
        "<MRI_SCAN> lesion in liver",
    ),
]


def _easyr1() -> None:
    """Import EasyR1 from the working directory (only when run, so collecting this file imports nothing)."""
    sys.path.insert(0, os.getcwd())
    # verl.workers.rollout imports vLLM (CUDA only) at import time; the config and reward classes
    # do not use it.
    stub = types.ModuleType("verl.workers.rollout.vllm_rollout_spmd")
    stub.vLLMRollout = None  # type: ignore[attr-defined]
    sys.modules.setdefault("verl.workers.rollout.vllm_rollout_spmd", stub)


def parse(overrides: list[str]) -> Any:
    """What EasyR1's ``verl.trainer.main.main`` does with its command line."""
    from omegaconf import OmegaConf
    from verl.trainer.config import PPOConfig

    cli = OmegaConf.from_dotlist(overrides)
    config = OmegaConf.structured(PPOConfig())
    path = cli.pop("config", None)
    if path is not None:
        config = OmegaConf.merge(config, OmegaConf.load(path))
    parsed = OmegaConf.to_object(OmegaConf.merge(config, cli))
    parsed.deep_post_init()
    return parsed


def batch(tokenizer: Any) -> Any:
    import numpy as np
    import torch
    from verl.protocol import DataProto

    ids = [tokenizer.encode(response) for response, _ in CASES]
    width = max(map(len, ids))
    responses = torch.zeros(len(ids), width, dtype=torch.long)
    mask = torch.zeros(len(ids), width, dtype=torch.long)
    for i, row in enumerate(ids):
        responses[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return DataProto.from_dict(
        tensors={"responses": responses, "response_mask": mask},
        non_tensors={"ground_truth": np.array([truth for _, truth in CASES], dtype=object)},
    )


def main() -> None:
    _easyr1()
    import ray
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast
    from verl.workers.reward import AutoRewardManager

    from medix_r1.integrations import easyr1
    from medix_r1.judges import JudgeUnavailableError
    from medix_r1.rewards.config import RewardConfig

    base = ["config=examples/config.yaml"] if os.path.exists("examples/config.yaml") else []
    out: dict = {}
    try:
        parse([*base, "worker.reward.reward_type=batch"])
        out["reward_type_override"] = "accepted"
    except Exception as exc:  # what EasyR1 says about the old documented override
        out["reward_type_override"] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"

    settings = RewardConfig(judge="fake", embedding_model="hashing", judge_deadline_s=30)
    overrides = easyr1.launch_overrides(settings)
    reward = parse([*base, *overrides]).worker.reward
    out["overrides"] = overrides
    out["parsed"] = {
        "reward_function": reward.reward_function,
        "reward_function_name": reward.reward_function_name,
        "reward_function_kwargs": dict(reward.reward_function_kwargs),
    }
    # A lossless byte-level tokenizer: the manager decodes exactly the text of each case.
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([r for r, _ in CASES] * 3, vocab_size=300, min_frequency=1, show_progress=False)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer)
    data = batch(tokenizer)

    manager = AutoRewardManager(reward, tokenizer)
    tensor, metrics = manager.compute_reward(data)
    out["reward_type"] = manager.reward_type
    out["token_rewards"] = tensor.sum(-1).tolist()
    out["metrics"] = {k: [float(v) for v in values] for k, values in metrics.items()}

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(AutoRewardManager).options(num_cpus=reward.num_cpus)
        ray_tensor, _ = ray.get(remote.remote(reward, tokenizer).compute_reward.remote(data))
        out["ray_token_rewards"] = ray_tensor.sum(-1).tolist()
        down = RewardConfig(judge_url="http://127.0.0.1:9/v1", judge_retries=0, embedding_model="hashing")
        actor = remote.remote(parse([*base, *easyr1.launch_overrides(down)]).worker.reward, tokenizer)
        try:
            ray.get(actor.compute_reward.remote(data))
            out["judge_down"] = "no error"
        except JudgeUnavailableError as exc:
            cause = getattr(exc, "cause", exc)
            out["judge_down"] = {
                "raised": type(exc).__name__,
                "cause": type(cause).__name__,
                "message": str(cause),
                "endpoint": cause.endpoint,
                "attempts": cause.attempts,
            }
    finally:
        ray.shutdown()
    print("EASYR1-RESULT " + json.dumps(out))


if __name__ == "__main__":
    main()
