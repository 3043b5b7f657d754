"""End-to-end runs against loopback candidate and judge servers: exact scores, resume, crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from medix_r1.evaluation import (
    EvalRunError,
    JudgeProtocol,
    OpenAIGenerator,
    StaleResultsError,
    load_task_file,
    read_rows,
    run_eval,
)
from medix_r1.evaluation.files import RunPaths
from medix_r1.judges.openai import OpenAIChatClient
from medix_r1.testing.loopback import FaultPlan, LoopbackChatServer


def _run(suite: Path, out: Path, cand_url: str, judge_url: str, **kw):
    gen = OpenAIGenerator(OpenAIChatClient(cand_url, "org/Cand-7B", max_retries=3, backoff_s=0.01))
    judge = JudgeProtocol(
        OpenAIChatClient(judge_url, "judge-14b", max_retries=3, backoff_s=0.01), model="judge-14b"
    )
    return run_eval("org/Cand-7B", load_task_file(suite), out, generator=gen, judge=judge, **kw)


def test_full_run_gives_the_protocols_scores(suite, servers, tmp_path, kit):
    EXPECTED, EXPECTED_OVERALL, EXPECTED_MICRO, N_SAMPLES = (
        kit.EXPECTED,
        kit.EXPECTED_OVERALL,
        kit.EXPECTED_MICRO,
        kit.N_SAMPLES,
    )
    cand, judge = servers
    result = _run(suite, tmp_path / "out", cand.base_url, judge.base_url, concurrency=4)
    s = result.scores
    assert {k: v.score for k, v in s.tasks.items()} == pytest.approx(EXPECTED, abs=1e-12)
    assert s.overall == pytest.approx(EXPECTED_OVERALL, abs=1e-12)
    assert s.overall_micro == pytest.approx(EXPECTED_MICRO, abs=1e-12)
    assert s.tasks["pubmed_like"].failed == 1 and s.tasks["pubmed_like"].judged == 1
    assert s.judge_failed == 1
    assert s.text_average == pytest.approx((2 / 3 + 1.0 + 0.5) / 3) and s.image_average == 0.5
    # 9 generations; judge calls: 3 per sample, +2 for the re-asked one, +3 for the failed one -> 9*3 + 3
    assert cand.requests == N_SAMPLES
    assert judge.requests == 3 * 8 + 1 + 3
    d = RunPaths(tmp_path / "out", "org/Cand-7B")
    assert d.dir.name == "Cand_7B"
    assert {p.name for p in d.dir.iterdir()} >= {
        "Cand_7B.jsonl",
        "Cand_7B_eval.jsonl",
        "Cand_7B_score.txt",
        "scores.json",
        "report.md",
        "report.html",
        "scores_by_task.png",
        "run.json",
    }
    rows = read_rows(d.judgements).rows
    assert sorted(rows) == sorted(
        [f"bones_{i}" for i in range(3)]
        + ["pubmed_like_0", "pubmed_like_1", "reports_0", "reports_1"]
        + ["pictures_0", "pictures_1"]
    )
    assert rows["reports_0"]["evaluation"]["score"] == 4.0 and rows["reports_0"]["evaluation"]["rounds"] == [
        5,
        4,
        3,
    ]
    assert rows["pubmed_like_0"]["evaluation"]["status"] == "judge_failed"
    assert rows["pubmed_like_0"]["evaluation"]["score"] is None
    assert rows["pubmed_like_1"]["evaluation"]["reasks"] == 1
    assert "with image" in rows["pictures_0"]["response"]
    payload = json.loads(d.scores_json.read_text())
    assert payload["tasks"]["bones"] == pytest.approx(2 / 3) and payload["overall"] == pytest.approx(
        EXPECTED_OVERALL
    )
    assert payload["judge_models"] == ["judge-14b"] and payload["counts"]["pubmed_like"]["failed"] == 1
    txt = d.score_txt.read_text().splitlines()
    assert txt[0] == "Model: org/Cand-7B" and txt[1] == ""
    assert txt[3].split() == ["0", "bones", "0.666667", "66.67%"]
    assert txt[-1].split() == ["4", "Overall", "66.666667", "66.67%"]  # published: Overall in percent


def test_rerun_redoes_nothing(suite, servers, tmp_path, kit):
    EXPECTED_OVERALL, N_SAMPLES = kit.EXPECTED_OVERALL, kit.N_SAMPLES
    cand, judge = servers
    _run(suite, tmp_path / "out", cand.base_url, judge.base_url)
    before = (cand.requests, judge.requests)
    again = _run(suite, tmp_path / "out", cand.base_url, judge.base_url)
    assert (cand.requests, judge.requests) == before
    assert again.summary.generated == 0 and again.summary.judged == 0
    assert again.summary.already_judged == N_SAMPLES
    assert again.scores.overall == pytest.approx(EXPECTED_OVERALL)


def test_phases_one_at_a_time_match_the_interleaved_run(suite, servers, tmp_path, kit):
    EXPECTED = kit.EXPECTED
    cand, judge = servers
    for phase in ("generate", "judge", "score"):
        result = _run(suite, tmp_path / "out", cand.base_url, judge.base_url, phases=(phase,))
    assert {k: v.score for k, v in result.scores.tasks.items()} == pytest.approx(EXPECTED)


def test_changed_dataset_is_detected_not_mixed_in(suite, servers, tmp_path, kit):
    EXPECTED_OVERALL = kit.EXPECTED_OVERALL
    cand, judge = servers
    _run(suite, tmp_path / "out", cand.base_url, judge.base_url)
    rows = [json.loads(line) for line in (suite.parent / "reports.jsonl").read_text().splitlines()]
    rows[1]["summary"] = "Right basal pneumonia."  # the reference changed
    (suite.parent / "reports.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(StaleResultsError, match="reports_1"):
        _run(suite, tmp_path / "out", cand.base_url, judge.base_url)
    before = cand.requests
    result = _run(suite, tmp_path / "out", cand.base_url, judge.base_url, redo_changed=True)
    assert cand.requests == before + 1 and result.summary.generated == 1
    assert result.scores.overall == pytest.approx(EXPECTED_OVERALL)


def test_torn_last_line_is_cut_and_redone(suite, servers, tmp_path, kit):
    EXPECTED_OVERALL, N_SAMPLES = kit.EXPECTED_OVERALL, kit.N_SAMPLES
    cand, judge = servers
    _run(suite, tmp_path / "out", cand.base_url, judge.base_url)
    p = RunPaths(tmp_path / "out", "org/Cand-7B").judgements
    data = p.read_bytes()
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    p.write_bytes(data[: last_start + 25])  # the last row cut mid-write, as after kill -9
    before = judge.requests
    result = _run(suite, tmp_path / "out", cand.base_url, judge.base_url)
    assert (
        result.summary.torn_lines_repaired == 1 and result.summary.judged + result.summary.judge_failed == 1
    )
    assert judge.requests > before and cand.requests == N_SAMPLES
    assert result.scores.overall == pytest.approx(EXPECTED_OVERALL)
    assert len(p.read_text().splitlines()) == N_SAMPLES


def test_retries_server_errors_and_rate_limits(suite, tmp_path, kit):
    EXPECTED_OVERALL, candidate_reply, judge_reply = (
        kit.EXPECTED_OVERALL,
        kit.candidate_reply,
        kit.judge_reply,
    )
    faults = FaultPlan(first_n=3, kinds=("http500", "http429", "drop", "garbage"), seed=3)
    with (
        LoopbackChatServer(candidate_reply, faults=faults) as cand,
        LoopbackChatServer(
            judge_reply, faults=FaultPlan(rate=0.2, kinds=("http500", "http429"), seed=1)
        ) as judge,
    ):
        result = _run(suite, tmp_path / "out", cand.base_url, judge.base_url, concurrency=2)
    assert result.scores.overall == pytest.approx(EXPECTED_OVERALL)
    assert sum(judge.faults_injected.values()) > 0


def test_judge_outage_stops_without_scoring(suite, tmp_path, kit):
    candidate_reply, judge_reply = kit.candidate_reply, kit.judge_reply
    with (
        LoopbackChatServer(candidate_reply) as cand,
        LoopbackChatServer(judge_reply, faults=FaultPlan(rate=1.0, kinds=("http500",))) as judge,
        pytest.raises(EvalRunError, match="judge-|failed after"),
    ):
        _run(suite, tmp_path / "out", cand.base_url, judge.base_url, concurrency=2)
    d = RunPaths(tmp_path / "out", "org/Cand-7B")
    assert read_rows(d.judgements).rows == {}  # an outage is never written as a verdict
    assert len(read_rows(d.generations).rows) >= 1


_CHILD = """
import sys
from medix_r1.cli import main
sys.argv = ["medix-r1", "eval", "run", "--model", "org/Cand-7B", "--base-url", sys.argv[1],
            "--judge-url", sys.argv[2], "--judge-model", "judge-14b", "--tasks", sys.argv[3],
            "--out", sys.argv[4], "--concurrency", "3", "--no-report", "--max-retries", "1"]
main()
"""


@pytest.mark.parametrize("kill_at", [4, 17, 29])
def test_kill_9_and_restart_gives_the_same_scores(tmp_path, kill_at, kit):
    """The client is killed with SIGKILL when the servers have seen ``kill_at`` requests in all."""
    suite = kit.write_suite(tmp_path / "suite")
    EXPECTED, EXPECTED_OVERALL, N_SAMPLES = kit.EXPECTED, kit.EXPECTED_OVERALL, kit.N_SAMPLES
    candidate_reply, judge_reply = kit.candidate_reply, kit.judge_reply
    out = tmp_path / "out"
    state: dict[str, object] = {"proc": None, "count": 0}

    def counting(fn):
        def reply(messages, body):
            state["count"] = int(state["count"]) + 1
            proc = state["proc"]
            if state["count"] == kill_at and proc is not None:
                os.kill(proc.pid, signal.SIGKILL)
            return fn(messages, body)

        return reply

    with (
        LoopbackChatServer(counting(candidate_reply), latency_s=0.01) as cand,
        LoopbackChatServer(counting(judge_reply), latency_s=0.01) as judge,
    ):
        args = [sys.executable, "-c", _CHILD, cand.base_url, judge.base_url, str(suite), str(out)]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
        state["proc"] = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        state["proc"].wait(60)
        assert state["proc"].returncode == -signal.SIGKILL
        first_gen = cand.requests
        state["proc"] = None
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    d = RunPaths(out, "org/Cand-7B")
    gen_lines = d.generations.read_text().splitlines()
    eval_lines = d.judgements.read_text().splitlines()
    gen_ids = [json.loads(x)["id"] for x in gen_lines]
    eval_ids = [json.loads(x)["id"] for x in eval_lines]
    assert len(gen_ids) == len(set(gen_ids)) == N_SAMPLES  # no duplicates
    assert len(eval_ids) == len(set(eval_ids)) == N_SAMPLES
    # nothing finished was redone: at most the 3 samples in flight at the kill are generated twice
    assert N_SAMPLES <= cand.requests <= N_SAMPLES + 3
    assert first_gen <= N_SAMPLES
    scores = json.loads(d.scores_json.read_text())
    assert scores["tasks"] == pytest.approx(EXPECTED) and scores["overall"] == pytest.approx(EXPECTED_OVERALL)
