"""Reward throughput: `medix-r1 reward score` and our batched reward vs the published one-at-a-time scoring.

    python benchmarks/reward_throughput.py [--prompts 512] [--group 5] [--latency-ms 25] [--capacity 256]

A loopback OpenAI-compatible judge runs in a subprocess with the given latency and capacity. The
workload is `prompts x group` free-form rollouts with mostly unique answers. Reported, all measured
in this run:
  cli        `medix-r1 reward score` on the workload written as JSONL, in its own process (its
             scoring_seconds: the clock starts after the embedder is loaded and warmed up; chunks
             pipelined, chunk k+1 encoded while chunk k is judged)
  in-process CompositeReward over the whole workload as one batch (judge overlapped with encoding)
  sequential the published pattern: per rollout, one blocking judge request and one embedding call
             for the (prediction, reference) pair
  bound      every distinct string of the workload encoded once in one batched call, timed here
             before and after the CLI run (the faster of the two), with the judge running alongside
             at the server's capacity: max(encode time, judge time)
and the ratios cli/bound, in-process/bound and sequential/cli, plus peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FINDINGS = [
    "pneumothorax",
    "pleural effusion",
    "consolidation",
    "cardiomegaly",
    "nodule",
    "mass",
    "fracture",
    "hematoma",
    "cyst",
    "abscess",
    "atelectasis",
    "edema",
    "calcification",
    "stenosis",
    "aneurysm",
    "infarct",
    "hemorrhage",
    "lymphadenopathy",
    "metastasis",
    "adenocarcinoma",
    "granuloma",
    "polyp",
]
SITES = [
    "lung",
    "liver",
    "kidney",
    "spleen",
    "brain",
    "femur",
    "tibia",
    "pancreas",
    "thyroid",
    "breast",
    "colon",
    "stomach",
    "heart",
    "aorta",
    "retina",
    "bladder",
    "prostate",
    "uterus",
    "ovary",
    "humerus",
]
SIDES = ["left", "right", "bilateral", "upper", "lower", "medial", "lateral", "posterior", "anterior"]
QUALIFIERS = [
    "small",
    "large",
    "acute",
    "chronic",
    "subtle",
    "extensive",
    "focal",
    "diffuse",
    "mild",
    "severe",
    "early",
    "late-stage",
    "well-defined",
    "ill-defined",
    "multiple",
    "solitary",
]
TAGS = ["<X_RAY>", "<CT_SCAN>", "<MRI_SCAN>", "<ULTRASOUND>", "<MICROSCOPY>", "<FUNDUS_PHOTOGRAPHY>"]


def make_workload(prompts: int, group: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Free-form answers, mostly unique: a few exact matches and invalid answers, as in real rollouts."""
    rng = random.Random(seed)
    responses, solutions = [], []
    for p in range(prompts):
        tag = rng.choice(TAGS)
        reference = f"{rng.choice(QUALIFIERS)} {rng.choice(SIDES)} {rng.choice(SITES)} {rng.choice(FINDINGS)}"
        for g in range(group):
            roll = rng.random()
            if roll < 0.08:
                answer = reference  # exact match: shortcut
            elif roll < 0.12:
                answer = rng.choice(["A", "B", "Answer: C", "is it a cyst?"])  # invalid: shortcut
            else:
                words = [rng.choice(QUALIFIERS), rng.choice(SIDES), rng.choice(SITES), rng.choice(FINDINGS)]
                if rng.random() < 0.5:
                    words[2:] = reference.split()[2:]
                answer = f"There is a {' '.join(words)} (rollout {p}-{g})"
            reasoning = f"Looking at the {rng.choice(SITES)} region, step {g}."
            responses.append(f"{tag}<thinking>{reasoning}</thinking><answer>{answer}</answer>")
            solutions.append(f"{tag} {reference}.")
    return responses, solutions


def start_server(latency_ms: float, capacity: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "medix_r1.testing.loopback",
            "--latency-ms",
            str(latency_ms),
            "--capacity",
            str(capacity),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise RuntimeError("loopback judge did not start")
    return proc, url


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_sequential(responses, solutions, url, embedder, limit=None):
    """The published pattern: for each rollout, a blocking judge call, then a pair encode."""
    import httpx

    from medix_r1.judges.prompts import render_answer_match
    from medix_r1.parsing import (
        THINKING,
        extract_answer,
        is_invalid_answer,
        normalize_tag_whitespace,
        split_solution,
    )

    model = embedder.load()
    client = httpx.Client(timeout=60)
    n = len(responses) if limit is None else min(limit, len(responses))
    started = time.perf_counter()
    for response, solution in zip(responses[:n], solutions[:n], strict=True):
        predicted = extract_answer(normalize_tag_whitespace(response), THINKING)
        _, reference = split_solution(solution)
        if reference is None or is_invalid_answer(predicted) or predicted == reference:
            continue
        body = {
            "model": "judge",
            "messages": [{"role": "user", "content": render_answer_match(predicted, reference)}],
            "max_tokens": 4,
            "temperature": 0.0,
        }
        client.post(f"{url}/chat/completions", json=body).raise_for_status()
        model.encode([predicted, reference], convert_to_tensor=True, show_progress_bar=False)
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed * len(responses) / n


def run_cli(responses, solutions, url, args) -> tuple[float, float, dict]:
    """`medix-r1 reward score` on the workload; returns (scoring_seconds, command wall seconds, summary)."""
    with tempfile.TemporaryDirectory() as tmp:
        src, out, summary = Path(tmp, "rollouts.jsonl"), Path(tmp, "scored.jsonl"), Path(tmp, "summary.json")
        with src.open("w", encoding="utf-8") as f:
            for i, (response, solution) in enumerate(zip(responses, solutions, strict=True)):
                f.write(json.dumps({"id": f"r{i}", "response": response, "solution": solution}) + "\n")
        command = [
            sys.executable,
            "-c",
            "from medix_r1.cli import main; main()",
            "reward",
            "score",
            str(src),
            "-o",
            str(out),
            "--judge-url",
            url,
            "--judge-model",
            "judge",
            "--judge-concurrency",
            str(args.concurrency),
            "--embedding-model",
            args.embedding_model,
            "--summary-json",
            str(summary),
        ]
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        data = json.loads(summary.read_text())
        scored = sum(1 for _ in out.open(encoding="utf-8"))
    if scored != len(responses):
        raise RuntimeError(f"the CLI wrote {scored} rows for {len(responses)} rollouts")
    return data["scoring_seconds"], wall, data


def distinct_strings(reward, responses, solutions) -> list[str]:
    """Every distinct string the similarity reward must encode for this workload (answers that need
    a model, and their references), as it dedups them."""
    rollouts = reward.prepare(responses, solutions)
    pairs = [(r.answer, r.reference or "") for r in rollouts if r.shortcut is None]
    return list(dict.fromkeys(s for pair in pairs for s in pair))


def encode_once(embedder, strings: list[str]) -> float:
    """Seconds to encode ``strings`` in one batched call."""
    t0 = time.perf_counter()
    embedder.encode(strings)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--group", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=25.0)
    parser.add_argument("--capacity", type=int, default=256)
    parser.add_argument(
        "--concurrency", type=int, default=256, help="judge requests our client keeps in flight"
    )
    parser.add_argument("--embedding-model", default="minilm")
    parser.add_argument(
        "--baseline-sample",
        type=int,
        default=None,
        help="time the sequential baseline on this many rollouts and scale up (default: all)",
    )
    args = parser.parse_args()

    from medix_r1.embedders import SentenceTransformerEmbedder
    from medix_r1.judges import AnswerMatchJudge, OpenAIChatClient
    from medix_r1.rewards import build_reward

    responses, solutions = make_workload(args.prompts, args.group)
    server, url = start_server(args.latency_ms, args.capacity)
    try:
        embedder = SentenceTransformerEmbedder(args.embedding_model, device="cpu")
        embedder.load()
        rss_loaded = rss_mb()

        client = OpenAIChatClient(url, "judge", concurrency=args.concurrency, api_key_env=None)
        reward = build_reward("medix-r1", judge=AnswerMatchJudge(client), embedder=embedder)
        reward.score(responses[:8], solutions[:8])  # warm up connections and kernels
        client.stats.reset()
        reward = build_reward("medix-r1", judge=AnswerMatchJudge(client), embedder=embedder)

        started = time.perf_counter()
        results = reward.score(responses, solutions)
        ours = time.perf_counter() - started
        rss_ours = rss_mb()
        judge_requests = client.stats.requests
        encoded = reward.component("accuracy_embed").strings_encoded

        # The bound's encode part: every distinct string of the workload encoded once, in one batched
        # call, timed before and after the CLI run (the faster of the two: the tighter bound).
        strings = distinct_strings(reward, responses, solutions)
        encode_before = encode_once(embedder, strings)
        cli, cli_wall, cli_summary = run_cli(responses, solutions, url, args)
        encode_bound = min(encode_before, encode_once(embedder, strings))
        rate = len(strings) / encode_bound
        judge_bound = judge_requests * (args.latency_ms / 1000) / args.capacity
        bound = max(encode_bound, judge_bound)

        sequential = run_sequential(responses, solutions, url, embedder, args.baseline_sample)
    finally:
        server.terminate()
        server.wait(5)

    n = len(responses)
    scored = sum(r["accuracy_llm"] is not None for r in results)
    print(
        f"\nreward throughput: {args.prompts} prompts x {args.group} rollouts = {n} rollouts; "
        f"judge {args.latency_ms:g} ms latency, capacity {args.capacity}; embedder {args.embedding_model}"
    )
    print(
        f"judge requests sent: {judge_requests}; unique strings encoded: {encoded} in-process, "
        f"{len(strings)} in the bound; batched encode rate {rate:.0f} strings/s; all {scored} rollouts scored\n"
    )
    rows = [
        ("medix-r1 reward score (CLI)", cli),
        ("in-process (one batch, overlapped)", ours),
        ("sequential (published pattern)" + (" *" if args.baseline_sample else ""), sequential),
        ("bound: max(encode, judge)", bound),
        ("  encode part", encode_bound),
        ("  judge part", judge_bound),
    ]
    print(f"| {'method':36} | {'seconds':>8} | {'rollouts/s':>10} |")
    print(f"|{'-' * 38}|{'-' * 10}|{'-' * 12}|")
    for name, secs in rows:
        print(f"| {name:36} | {secs:8.2f} | {n / secs:10.0f} |")
    print()
    print(f"cli / bound           = {cli / bound:.2f}x   (target <= 1.2x)")
    print(f"in-process / bound    = {ours / bound:.2f}x")
    print(f"sequential / cli      = {sequential / cli:.1f}x   (target >= 15x)")
    print(
        f"cli: {cli_wall:.1f} s for the whole command (start-up, model load {cli_summary['load_seconds']:.1f} s "
        f"incl. warm-up, scoring); {cli_summary['judge_requests']} judge requests, "
        f"{cli_summary['embedding_strings_encoded']} strings encoded"
    )
    print(f"peak RSS: {rss_loaded:.0f} MB after loading the embedder, {rss_ours:.0f} MB after scoring")
    if args.baseline_sample:
        print(f"* sequential timed on {args.baseline_sample} rollouts and scaled to {n}")


if __name__ == "__main__":
    main()
