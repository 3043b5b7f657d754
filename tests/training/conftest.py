"""Fixtures of the training tests: a tiny VLM folder and a small slice of the sample set, per session.

Both live in a temporary folder (nothing is written to the user's cache): the tiny model is built with
``cache_dir=`` and the records are a few rows of the bundled sample set, written as JSONL with
absolute image paths.
"""

from __future__ import annotations

import json
import os

import pytest

for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def train_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("medix-train-cache")


@pytest.fixture(scope="session")
def tiny_model_dir(train_cache):
    pytest.importorskip("trl", reason="the training tests need the train extra")
    from medix_r1.models import tiny_vlm_dir

    return tiny_vlm_dir("qwen2-vl", cache_dir=train_cache)


@pytest.fixture(scope="session")
def sample_files(train_cache):
    """(train.jsonl, test.jsonl) with 24 / 8 records covering several modalities."""
    from medix_r1.data import ensure_samples, load_records

    info = ensure_samples(train_cache / "samples")
    out = {}
    for split, path, n in (("train", info.train_path, 24), ("test", info.test_path, 8)):
        records = load_records(path, resolve_images=True)
        step = max(1, len(records) // n)
        chosen = records[::step][:n]
        target = train_cache / f"{split}-small.jsonl"
        target.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in chosen), encoding="utf-8")
        out[split] = target
    return out["train"], out["test"]


@pytest.fixture()
def tiny_config(tiny_model_dir, sample_files, tmp_path):
    """A 2-step config on the tiny VLM: 2 prompts x 4 responses, 12-token replies, offline reward."""

    def make(*overrides: str):
        from medix_r1.training.config_loading import load_config

        train, test = sample_files
        base = [
            f"model.name={tiny_model_dir}",
            f"data.train={train}",
            f"data.eval={test}",
            "reward.embedding_model=hashing",
            "schedule.max_steps=2",
            "rollout.prompts_per_step=2",
            "rollout.group_size=4",
            "rollout.max_completion_length=12",
            "optim.micro_batch_size=8",
            "optim.updates_per_step=1",
            "optim.learning_rate=0.01",
            "warmstart.enabled=false",
            # The quickstart's own switches (issue 16) stay off: these tests train the generic path.
            "model.single_token_tags=false",
            "data.balance_modalities=false",
            f"checkpoint.output_dir={tmp_path / 'run'}",
            "logging.console=false",
        ]
        return load_config("quickstart", [*base, *overrides])

    return make
