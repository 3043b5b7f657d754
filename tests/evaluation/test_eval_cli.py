"""The thin CLI over the evaluation library: run, submit, leaderboard build / verify."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from medix_r1.cli import app

runner = CliRunner()


def test_eval_run_submit_and_leaderboard(suite, servers, tmp_path, kit):
    cand, judge = servers
    out = tmp_path / "out"
    base = ["eval", "run", "--base-url", cand.base_url, "--judge-url", judge.base_url, "--judge-model", "j"]
    base += ["--tasks", str(suite), "--out", str(out), "--no-report"]
    r = runner.invoke(app, [*base, "--model", "org/Cand-A", "--concurrency", "8"])
    assert r.exit_code == 0, r.output
    assert "judge_failed 1" in r.output
    assert ["4", "Overall", "66.666667", "66.67%"] in [line.split() for line in r.output.splitlines()]
    scores = json.loads((out / "Cand_A" / "scores.json").read_text())
    assert scores["overall"] == pytest.approx(kit.EXPECTED_OVERALL) and scores["run"]["judge_model"] == "j"

    r = runner.invoke(
        app,
        ["eval", "run", "--model", "org/Cand-B", "--backend", "fake", "--judge-url", judge.base_url]
        + base[6:],
    )
    assert r.exit_code == 0, r.output

    r = runner.invoke(app, ["eval", "submit", str(out / "Cand_A")])
    assert r.exit_code == 0, r.output
    zip_path = r.output.strip().splitlines()[-1]
    r = runner.invoke(app, ["leaderboard", "verify", zip_path, "--tasks", str(suite), "--require-all"])
    assert r.exit_code == 0 and "OK" in r.output, r.output

    r = runner.invoke(app, ["leaderboard", "build", str(out), "-o", str(tmp_path / "site")])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0].split()[:3] == ["1.", "org/Cand-A", "66.67"]
    assert (tmp_path / "site" / "index.html").exists() and (tmp_path / "site" / "leaderboard.csv").exists()


def test_eval_run_errors_are_one_clear_line(tmp_path):
    r = runner.invoke(app, ["eval", "run", "--model", "m", "--tasks", "medqa,radvqa", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "did you mean 'rad_vqa'" in r.output
    r = runner.invoke(
        app, ["eval", "run", "--model", "m", "--tasks", "medqa", "--out", str(tmp_path), "--phases", "gen"]
    )
    assert r.exit_code == 2 and "choose from generate, judge, score" in r.output
    r = runner.invoke(
        app,
        ["eval", "run", "--model", "m", "--tasks", "medqa", "--out", str(tmp_path)]
        + ["--token-limit-param", "max_new_tokens"],
    )
    assert r.exit_code == 2 and "choose max_tokens or max_completion_tokens" in r.output
    r = runner.invoke(
        app, ["eval", "run", "--model", "m", "--tasks", "medqa", "--out", str(tmp_path), "--prompt", "medx"]
    )
    assert r.exit_code == 2 and "choose plain or medix" in r.output
    r = runner.invoke(app, ["eval", "run", "--model", "m", "--tasks", "medqa", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "--base-url" in r.output


def test_eval_tasks_lists_the_suite():
    r = runner.invoke(app, ["eval", "tasks", "medix17"])
    assert r.exit_code == 0 and len(r.output.strip().splitlines()) == 17


def test_one_endpoint_for_both_roles_sends_judge_settings_only_to_the_judge(suite, tmp_path, kit):
    from medix_r1.testing.loopback import LoopbackChatServer

    bodies = []

    def both(messages, body):
        bodies.append(body)
        return (
            kit.judge_reply(messages, body)
            if "<candidate>" in kit._text(messages[0]["content"])
            else kit.candidate_reply(messages, body)
        )

    with LoopbackChatServer(both) as server:
        args = [
            "eval",
            "run",
            "--model",
            "cand",
            "--base-url",
            server.base_url,
            "--judge-url",
            server.base_url,
        ]
        args += [
            "--judge-model",
            "Qwen/Qwen3-14B",
            "--tasks",
            str(suite),
            "--out",
            str(tmp_path / "o"),
            "--no-report",
        ]
        r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    gen = [b for b in bodies if b["model"] == "cand"]
    judge = [b for b in bodies if b["model"] == "Qwen/Qwen3-14B"]
    assert len(gen) == kit.N_SAMPLES and len(gen) + len(judge) == len(bodies)
    assert all(
        "chat_template_kwargs" not in b and b["max_tokens"] == 2048 and b["temperature"] == 0.0 for b in gen
    )
    assert all(
        b["chat_template_kwargs"] == {"enable_thinking": False} and b["max_tokens"] == 512 for b in judge
    )
    scores = json.loads((tmp_path / "o" / "cand" / "scores.json").read_text())
    assert scores["overall"] == pytest.approx(kit.EXPECTED_OVERALL)
