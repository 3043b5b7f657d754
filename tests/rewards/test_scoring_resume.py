"""`reward score` never loses work: an existing output survives a failed run, an empty input is an
error, and a killed run resumes without scoring its rows again (issue 17's reward-score points)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medix_r1.cli import app
from medix_r1.embedders import HashingEmbedder
from medix_r1.judges import AnswerMatchJudge, JudgeUnavailableError, OpenAIChatClient
from medix_r1.rewards import build_reward
from medix_r1.rewards.scoring import RolloutFileError, partial_path, score_file
from medix_r1.testing.loopback import LoopbackChatServer

runner = CliRunner()
OLD = '{"old": "output"}\n'
ROWS = [
    {
        "id": f"r{i}",
        "response": f"<CT_SCAN><thinking>t</thinking><answer>lesion {i} in the liver</answer>",
        "solution": f"<CT_SCAN> lesion {i % 5} in liver",
    }
    for i in range(40)
]


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def reward_for(url: str, retries: int = 0):
    client = OpenAIChatClient(
        url, "judge", timeout_s=2, max_retries=retries, backoff_s=0.001, api_key_env=None
    )
    return build_reward("medix-r1", judge=AnswerMatchJudge(client), embedder=HashingEmbedder())


class FailsAfter(LoopbackChatServer):
    """Answers the first ``n`` requests, then refuses every connection attempt with HTTP 503."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    async def _respond(self, method, path, raw):
        if self.requests >= self.n:
            self.requests += 1
            return 503, b'{"error": "down"}', ""
        return await super()._respond(method, path, raw)


def test_judge_down_keeps_the_old_output_and_the_next_run_resumes(tmp_path: Path) -> None:
    src = write_rows(tmp_path / "in.jsonl", ROWS)
    out = tmp_path / "out.jsonl"
    out.write_text(OLD)
    # Every row needs the judge (no exact match); it answers 20 requests, then dies in chunk 3.
    with FailsAfter(20) as judge, pytest.raises(JudgeUnavailableError):
        score_file(src, out, reward_for(judge.base_url), chunk_size=10, pipeline_depth=1)
    assert out.read_text() == OLD  # untouched
    kept = lines(partial_path(out))
    assert [r["id"] for r in kept] == [f"r{i}" for i in range(20)]

    with LoopbackChatServer() as judge:
        summary = score_file(src, out, reward_for(judge.base_url), chunk_size=10)
        asked = judge.requests
    assert summary.resumed == 20 and summary.rollouts == 40
    assert asked == 20  # rows r20-r39 only: nothing scored twice
    assert not partial_path(out).exists()
    with LoopbackChatServer() as judge:
        clean = tmp_path / "clean.jsonl"
        score_file(src, clean, reward_for(judge.base_url))
    assert lines(out) == lines(clean)
    assert summary.means == json.loads(json.dumps(summary.means))  # plain numbers
    assert summary.means["overall"] == pytest.approx(
        sum(r["overall"] for r in lines(clean)) / len(ROWS), abs=1e-6
    )


def test_a_partial_file_of_another_input_is_an_error_naming_it(tmp_path: Path) -> None:
    src = write_rows(tmp_path / "in.jsonl", ROWS)
    out = tmp_path / "out.jsonl"
    with LoopbackChatServer() as judge:
        reward = reward_for(judge.base_url)
        score_file(write_rows(tmp_path / "other.jsonl", ROWS[::-1]), tmp_path / "x.jsonl", reward)
        partial_path(out).write_text((tmp_path / "x.jsonl").read_text())
        meta = partial_path(out).with_name(partial_path(out).name + ".json")
        from medix_r1.rewards.scoring import _reward_identity

        meta.write_text(json.dumps(_reward_identity(reward)))
        with pytest.raises(
            RolloutFileError, match=r"out.jsonl.partial:1: this row is not row 1 of the input"
        ):
            score_file(src, out, reward)


def test_torn_last_line_is_scored_again(tmp_path: Path) -> None:
    src = write_rows(tmp_path / "in.jsonl", ROWS[:6])
    out = tmp_path / "out.jsonl"
    with LoopbackChatServer() as judge:
        reward = reward_for(judge.base_url)
        score_file(src, out, reward, chunk_size=2)
        full = out.read_text()
        # What a kill in the middle of writing leaves: three rows and a half.
        cut = full.index("\n", full.index("\n", full.index("\n") + 1) + 1) + 1
        partial_path(out).write_text(full[: cut + 25])
        from medix_r1.rewards.scoring import _reward_identity

        meta = partial_path(out).with_name(partial_path(out).name + ".json")
        meta.write_text(json.dumps(_reward_identity(reward)))
        summary = score_file(src, out, reward, chunk_size=2)
    assert summary.resumed == 3
    assert out.read_text() == full


def score(args: list[str]):
    return runner.invoke(app, ["reward", "score", *args])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--chunk-size", "0"], "--chunk-size must be at least 1, got 0"),
        (["--judge", "nope"], "judge"),
        (["--embedding-model", "/no/such/model"], "cannot load the embedding model '/no/such/model'"),
    ],
    ids=["chunk-size-0", "unknown-judge", "unknown-embedder"],
)
def test_bad_settings_fail_without_touching_the_output(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    src = write_rows(tmp_path / "in.jsonl", ROWS[:3])
    out = tmp_path / "out.jsonl"
    out.write_text(OLD)
    args = [str(src), "-o", str(out), "--judge", "fake", "--embedding-model", "hashing", *extra]
    result = score(args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert out.read_text() == OLD
    assert not partial_path(out).exists()


def test_empty_input_is_an_error_and_keeps_the_old_output(tmp_path: Path) -> None:
    src = tmp_path / "empty.jsonl"
    src.write_text("\n\n")
    out = tmp_path / "out.jsonl"
    out.write_text(OLD)
    result = score([str(src), "-o", str(out), "--judge", "fake", "--embedding-model", "hashing"])
    assert result.exit_code == 2
    assert "empty.jsonl: no rollouts to score (the file has no rows)" in result.output
    assert out.read_text() == OLD


def test_judge_down_message_points_at_the_partial_file(tmp_path: Path) -> None:
    src = write_rows(tmp_path / "in.jsonl", ROWS[:12])
    out = tmp_path / "out.jsonl"
    out.write_text(OLD)
    with FailsAfter(0) as judge:
        result = score(
            [str(src), "-o", str(out), "--judge-url", judge.base_url, "--judge-retries", "0"]
            + ["--embedding-model", "hashing"]
        )
    assert result.exit_code == 3
    assert f"({out} is left as it was); run the same command again to resume" in " ".join(
        result.output.split()
    )
    assert out.read_text() == OLD


@pytest.mark.slow
def test_killed_run_resumes_without_rescoring(tmp_path: Path) -> None:
    """A real SIGKILL of `medix-r1 reward score` midway, then the same command again."""
    rows = [dict(r, id=f"k{i}") for i, r in enumerate(ROWS * 3)]  # 120 rows, each needs the judge
    src = write_rows(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    out.write_text(OLD)
    with LoopbackChatServer(latency_s=0.2, capacity=4) as judge:
        command = [
            sys.executable, "-c", "from medix_r1.cli import main; main()", "reward", "score", str(src),
            "-o", str(out), "--judge-url", judge.base_url, "--judge-concurrency", "4",
            "--embedding-model", "hashing", "--chunk-size", "10", "--summary-json", str(tmp_path / "s.json"),
        ]  # fmt: skip
        env = {**os.environ, "OPENAI_API_KEY": ""}
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        partial = partial_path(out)
        while time.monotonic() < deadline:
            if partial.exists() and partial.read_text().count("\n") >= 30:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert out.read_text() == OLD
        kept = partial.read_text().count("\n")
        assert 30 <= kept < 120
        first_run = judge.requests
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        second_run = judge.requests - first_run
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["resumed_rows"] >= kept  # rows flushed before the kill are kept ...
    # ... and not sent to the judge again (identical pairs of a chunk are sent once, so at most one
    # request per remaining row)
    assert second_run <= len(rows) - summary["resumed_rows"]
    assert [r["id"] for r in lines(out)] == [r["id"] for r in rows]


def test_chunk_k_plus_1_is_encoded_while_chunk_k_is_judged(tmp_path: Path) -> None:
    """The pipeline, without timing: the judge holds chunk 1's verdicts until the embedder has started
    encoding chunk 2. Without overlap that never happens and the judge deadline leaves chunk 1 unscored."""
    import asyncio
    import threading

    from medix_r1.judges import FakeChatBackend

    second_encode = threading.Event()

    class CountingEmbedder(HashingEmbedder):
        calls = 0

        def encode(self, texts):
            CountingEmbedder.calls += 1
            if CountingEmbedder.calls >= 2:
                second_encode.set()
            return super().encode(texts)

    class HoldingJudge(FakeChatBackend):
        async def complete(self, messages, *, max_new_tokens, **params):
            while not second_encode.is_set():
                await asyncio.sleep(0.01)
            return await super().complete(messages, max_new_tokens=max_new_tokens, **params)

    judge = AnswerMatchJudge(HoldingJudge(), deadline_s=10)
    reward = build_reward("medix-r1", judge=judge, embedder=CountingEmbedder(), on_judge_error="skip")
    src = write_rows(tmp_path / "in.jsonl", ROWS[:20])
    summary = score_file(src, tmp_path / "out.jsonl", reward, chunk_size=10)
    assert summary.unscored == 0
    assert all(r["accuracy_llm"] is not None for r in lines(tmp_path / "out.jsonl"))
