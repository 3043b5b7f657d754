"""Our reward inside verl 0.9's own reward loop vs `medix-r1 reward score` on the same rows.

    .venv-verl/bin/python benchmarks/verl_reward_loop.py [--responses 512] [--latency-ms 25]   (make bench-verl)

Needs the verl venv (`make install-verl`). A loopback OpenAI-compatible judge answers after
``--latency-ms`` (in a thread of this process, so it can count the requests it serves at once). An
exported run (preset medix-r1-8b-dapo with the tiny built-in model, the judge pointed at the loopback
server) is composed with verl's hydra config, and verl's ``RewardLoopWorker`` (the class verl runs as
a Ray actor; called in-process here, Ray not started) scores one batch of ``--responses`` rollouts
the way the trainer hands them over: token ids decoded by verl, one ``run_single`` per sample.

Rows, all measured in this run on the same decoded texts:
  reward score   medix_r1.rewards.scoring.score_file, what `medix-r1 reward score` runs
  verl async     verl's naive manager calling our acompute_score (the exported default)
  verl sync      verl's naive manager calling our per-sample compute_score in its thread pool
with seconds, responses per second, the most judge requests the server saw at once, and the ratio
to `reward score`. Each path first scores a full-size batch of other rows (encoder, thread pools and
judge connections warm), then the timed rows ``--repeats`` times (the fastest run is shown). The
machine may be shared: compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TAGS = ["X_RAY", "CT_SCAN", "MRI_SCAN", "ULTRASOUND", "MICROSCOPY"]
SITES = ["lung", "liver", "kidney", "spleen", "brain", "femur", "pancreas", "thyroid", "heart", "colon"]
FINDINGS = ["nodule", "mass", "cyst", "fracture", "effusion", "abscess", "edema", "hemorrhage", "stenosis"]
SIDES = ["left", "right", "upper", "lower", "posterior", "anterior", "bilateral"]


def workload(n: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """(response, solution, modality) rows with mostly unique free-text answers (the judge is needed)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        tag = rng.choice(TAGS)
        reference = f"{rng.choice(SIDES)} {rng.choice(SITES)} {rng.choice(FINDINGS)}"
        if rng.random() < 0.1:
            answer = reference
        else:
            answer = f"a {rng.choice(SIDES)} {rng.choice(SITES)} {rng.choice(FINDINGS)} (case {i})"
        response = f"<{tag}><thinking>Looking at the image, step {i}.</thinking><answer>{answer}</answer>"
        rows.append((response, f"<{tag}> {reference}", f"<{tag}>"))
    return rows


def prepare(workdir: Path, url: str, embedding: str, concurrency: int):
    from medix_r1.data import ensure_samples
    from medix_r1.training.config import apply_overrides
    from medix_r1.training.presets import get_preset
    from medix_r1.training.verl_backend import prepare_verl_run

    info = ensure_samples(workdir / "samples")
    config = apply_overrides(
        get_preset("medix-r1-8b-dapo"),
        [
            f"data.train={info.train_path}",
            "data.train_split=null",
            "data.eval=null",
            "model.name=tiny-qwen2-vl",
            "reward.judge=openai",
            f"reward.judge_url={url}",
            f"reward.judge_concurrency={concurrency}",
            f"reward.embedding_model={embedding}",
            f"checkpoint.output_dir={workdir / 'run'}",
        ],
    )
    return prepare_verl_run(config, max_records=2)


def compose(overrides):
    import verl
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    config_dir = Path(verl.__file__).parent / "trainer" / "config"
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        return hydra_compose(config_name="ppo_trainer", overrides=overrides)


def batch(tokenizer, rows):
    import numpy as np
    import torch
    from verl import DataProto

    prompt_len = 4
    encoded = [tokenizer(r[0], add_special_tokens=False)["input_ids"] for r in rows]
    resp_len = max(len(ids) for ids in encoded)
    pad = tokenizer.pad_token_id or 0
    prompts = torch.full((len(rows), prompt_len), pad, dtype=torch.long)
    responses = torch.full((len(rows), resp_len), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), prompt_len + resp_len), dtype=torch.long)
    mask[:, :prompt_len] = 1
    for i, ids in enumerate(encoded):
        responses[i, : len(ids)] = torch.tensor(ids)
        mask[i, prompt_len : prompt_len + len(ids)] = 1
    data = DataProto.from_dict(
        tensors={"prompts": prompts, "responses": responses, "attention_mask": mask},
        non_tensors={
            "data_source": np.array(["bench"] * len(rows), dtype=object),
            "reward_model": np.array([{"ground_truth": r[1]} for r in rows], dtype=object),
            "extra_info": np.array([{"modality": r[2]} for r in rows], dtype=object),
        },
    )
    texts = [tokenizer.decode(ids, skip_special_tokens=True) for ids in encoded]
    return data, texts


def run_verl(run, name: str, data, warm_data, server, repeats: int):
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker, migrate_legacy_reward_impl

    overrides = [o for o in run.overrides if not o.startswith("reward.custom_reward_function.name=")]
    cfg = migrate_legacy_reward_impl(compose([*overrides, f"reward.custom_reward_function.name={name}"]))
    worker = RewardLoopWorker(cfg)
    # A full-size batch of other rows first: encoder, thread pools and the judge's connections warm.
    worker.loop.run_until_complete(worker.compute_score_batch(warm_data))
    server.max_in_flight = 0
    seconds = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        outputs = worker.loop.run_until_complete(worker.compute_score_batch(data))
        seconds = min(seconds, time.perf_counter() - started)
    scores = [o["reward_score"] for o in outputs]
    rm = worker.reward_manager.assemble_rm_scores(data, scores)
    assert not rm.isnan().any(), "NaN in verl's reward tensor"
    return seconds, server.max_in_flight, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=512)
    parser.add_argument("--latency-ms", type=float, default=25.0)
    parser.add_argument("--capacity", type=int, default=256, help="requests the judge serves at once")
    parser.add_argument("--concurrency", type=int, default=64, help="reward.judge_concurrency (the default)")
    parser.add_argument("--embedding-model", default="minilm")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per path; the fastest is shown")
    parser.add_argument("--skip-sync", action="store_true", help="skip the slow per-sample sync row")
    args = parser.parse_args()

    from verl.utils import hf_tokenizer

    from medix_r1.rewards.config import RewardConfig, build_reward_from_config
    from medix_r1.rewards.scoring import score_file
    from medix_r1.testing.loopback import LoopbackChatServer

    rows = workload(args.responses)
    warm_rows = workload(args.responses, seed=1)
    with (
        tempfile.TemporaryDirectory() as tmp,
        LoopbackChatServer(latency_s=args.latency_ms / 1000, capacity=args.capacity) as server,
    ):
        workdir = Path(tmp)
        os.environ.setdefault("MEDIX_R1_CACHE", str(workdir / "cache"))
        run = prepare(workdir, server.base_url, args.embedding_model, args.concurrency)
        tokenizer = hf_tokenizer(run.model_path)
        data, texts = batch(tokenizer, rows)
        warm_data, warm_texts = batch(tokenizer, warm_rows)

        # `medix-r1 reward score` on the same (decoded) rows, with the same reward settings.
        settings = json.loads(json.dumps(__import__("yaml").safe_load(run.reward_config.read_text())))
        reward = build_reward_from_config(RewardConfig(**settings))
        embedder = reward.component("accuracy_embed").embedder
        if hasattr(embedder, "load"):
            embedder.load()
        src, warm_src = workdir / "rollouts.jsonl", workdir / "warm.jsonl"
        for path, decoded, source in ((src, texts, rows), (warm_src, warm_texts, warm_rows)):
            path.write_text(
                "".join(
                    json.dumps({"id": i, "response": t, "solution": r[1]}) + "\n"
                    for i, (t, r) in enumerate(zip(decoded, source, strict=True))
                ),
                encoding="utf-8",
            )
        score_file(warm_src, workdir / "warm-out.jsonl", reward)  # same warm-up as the verl rows
        server.max_in_flight = 0
        cli_seconds = math.inf
        for _ in range(args.repeats):
            started = time.perf_counter()
            score_file(src, workdir / "scored.jsonl", reward)
            cli_seconds = min(cli_seconds, time.perf_counter() - started)
        cli_in_flight = server.max_in_flight
        cli_scores = [
            json.loads(line)["overall"] for line in (workdir / "scored.jsonl").read_text().splitlines()
        ]

        results = [("reward score", cli_seconds, cli_in_flight)]
        async_seconds, async_in_flight, async_scores = run_verl(
            run, "acompute_score", data, warm_data, server, args.repeats
        )
        results.append(("verl async (acompute_score)", async_seconds, async_in_flight))
        assert all(abs(a - b) < 1e-9 for a, b in zip(async_scores, cli_scores, strict=True)), "scores differ"
        if not args.skip_sync:
            sync_seconds, sync_in_flight, sync_scores = run_verl(
                run, "compute_score", data, warm_data, server, args.repeats
            )
            results.append(("verl sync (compute_score)", sync_seconds, sync_in_flight))
            assert all(abs(a - b) < 1e-9 for a, b in zip(sync_scores, cli_scores, strict=True))

    print(
        f"{args.responses} responses, judge latency {args.latency_ms:.0f} ms (capacity {args.capacity}), "
        f"judge_concurrency {args.concurrency}, embedder {args.embedding_model}; one verl reward worker, "
        f"{os.cpu_count()} CPU(s); scores identical across rows"
    )
    print(f"{'path':<30}{'seconds':>9}{'resp/s':>9}{'max in flight':>15}{'x reward score':>16}")
    for name, seconds, in_flight in results:
        print(
            f"{name:<30}{seconds:>9.2f}{args.responses / seconds:>9.0f}{in_flight:>15}"
            f"{seconds / cli_seconds:>16.2f}"
        )


if __name__ == "__main__":
    main()
