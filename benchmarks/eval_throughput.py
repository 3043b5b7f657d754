"""Evaluation throughput: the full pipeline (generate + three-round judge) against a loopback server.

    python benchmarks/eval_throughput.py [--samples 400] [--in-flight 64] [--latency-ms 50,100,200]

One loopback OpenAI-compatible server runs in a subprocess and answers both roles (candidate and
judge, so both share one client and one limit, as one vLLM endpoint would), with the given latency
and a capacity equal to the samples in flight. Each sample costs 4 sequential requests (1 generation,
3 judge rounds in one conversation), so the most any client can get is ``in_flight / latency``
requests per second: that is the "capacity" column. Reported per latency, measured in this run:
requests, wall time, requests per second, the share of capacity reached, and the client's CPU time
per request (the whole pipeline: prompts, parsing, atomic appends; server CPU excluded).
Target (issue 5): at least 90% of capacity at 64 in flight.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def bench_reply(messages: list[dict], body: dict) -> str:
    """Candidate or judge, by the prompt: our judge prompts delimit the candidate's answer."""
    first = messages[0]["content"]
    text = (
        first if isinstance(first, str) else " ".join(p.get("text", "") for p in first if isinstance(p, dict))
    )
    if "<candidate>" in text:
        return '{"score": 1}' if len(messages) % 4 != 3 else '{"score": 0}'
    return "<think>The question asks about the femur; recalling anatomy.</think>The femur."


def serve(port: int, latency_ms: float, capacity: int) -> None:
    import asyncio

    from medix_r1.testing.loopback import LoopbackChatServer

    server = LoopbackChatServer(bench_reply, latency_s=latency_ms / 1000, capacity=capacity, port=port)

    async def run() -> None:
        task = asyncio.ensure_future(server.serve())
        await asyncio.get_running_loop().run_in_executor(None, server._ready.wait)
        print(server.base_url, flush=True)
        await task

    asyncio.run(run())


def start_server(latency_ms: float, capacity: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--latency-ms", str(latency_ms), "--capacity", str(capacity)],
        stdout=subprocess.PIPE,
        text=True,
    )
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise RuntimeError("loopback server did not start")
    return proc, url


def make_suite(root: Path, n: int) -> Path:
    rows = [
        {
            "q": f"Question {i}: which bone is the longest in the human body?",
            "a": 0,
            "o": ["Femur", "Tibia", "Fibula", "Humerus"],
        }
        for i in range(n)
    ]
    (root / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "tasks.yaml").write_text(
        "llm:\n  bench:\n    data_files: rows.jsonl\n    question_column: q\n    answer_id: a\n    choices_column: o\n"
    )
    return root / "tasks.yaml"


def measure(url: str, suite: Path, out: Path, in_flight: int) -> dict:
    from medix_r1.chat import CANDIDATE, OpenAIClient
    from medix_r1.evaluation import JudgeProtocol, OpenAIGenerator, load_task_file, run_eval

    client = OpenAIClient(url, "judge", role=CANDIDATE, concurrency=in_flight, timeout_s=60)
    result = run_eval(
        "bench-model",
        load_task_file(suite),
        out,
        phases=("generate", "judge"),
        generator=OpenAIGenerator(client, model="bench-model"),
        judge=JudgeProtocol(client, model="judge"),
        concurrency=in_flight,
    )
    s = result.summary
    return {"calls": s.calls, "wall_s": s.wall_s, "cpu_ms": s.cpu_ms_per_call}


def measure_bare(url: str, requests: int, in_flight: int) -> float:
    """The server's capacity as this machine sees it: ``in_flight`` workers sending single requests
    back to back through the same client, with no pipeline work at all. Returns requests per second."""
    import asyncio

    from medix_r1.chat import CANDIDATE, OpenAIClient

    client = OpenAIClient(url, "bench-model", role=CANDIDATE, concurrency=in_flight, timeout_s=60)
    messages = [{"role": "user", "content": "Question 0: which bone is the longest in the human body?"}]
    left = [requests]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            await client.complete(messages, max_new_tokens=2048)

    async def run() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        elapsed = time.perf_counter() - started
        await client.aclose()
        return requests / elapsed

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1500)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--latency-ms", default="50,100,200")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--capacity", type=int, default=64, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(0, float(args.latency_ms), args.capacity)
        return
    latencies = [float(x) for x in args.latency_ms.split(",")]
    print(
        f"eval pipeline: {args.samples} samples x (1 generation + 3 judge rounds), {args.in_flight} samples in flight, "
        f"loopback server in a subprocess (capacity {args.in_flight} concurrent requests)"
    )
    header = (
        f"{'latency ms':>10}  {'requests':>8}  {'wall s':>7}  {'pipeline req/s':>14}  {'server req/s':>12}  "
        f"{'% server':>8}  {'nominal':>7}  {'% nominal':>9}  {'client CPU ms/req':>17}"
    )
    print(header)
    print("-" * len(header))
    for latency in latencies:
        proc, url = start_server(latency, args.in_flight)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                suite = make_suite(Path(tmp), args.samples)
                m = measure(url, suite, Path(tmp) / "out", args.in_flight)
            bare = measure_bare(url, m["calls"], args.in_flight)
        finally:
            proc.kill()
            proc.wait()
        rate = m["calls"] / m["wall_s"]
        nominal = args.in_flight / (latency / 1000)
        print(
            f"{latency:>10.0f}  {m['calls']:>8d}  {m['wall_s']:>7.2f}  {rate:>14.1f}  {bare:>12.1f}  "
            f"{100 * rate / bare:>7.1f}%  {nominal:>7.0f}  {100 * rate / nominal:>8.1f}%  {m['cpu_ms']:>17.3f}"
        )
    print(
        "server req/s: the same server and client driven by bare back-to-back requests at the same "
        "concurrency (its measured capacity); nominal = in-flight / latency. Wall time includes the "
        "ramp-up and the drain of the last samples."
    )


if __name__ == "__main__":
    main()
