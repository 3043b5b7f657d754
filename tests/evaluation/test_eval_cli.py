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
    assert ["4", "Overall", "0.666667", "66.67%"] in [line.split() for line in r.output.splitlines()]
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
    assert r.exit_code == 2 and "Did you mean rad_vqa" in r.output
    r = runner.invoke(
        app, ["eval", "run", "--model", "m", "--tasks", "medqa", "--out", str(tmp_path), "--phases", "gen"]
    )
    assert r.exit_code == 2 and "choose from generate, judge, score" in r.output
    r = runner.invoke(app, ["eval", "run", "--model", "m", "--tasks", "medqa", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "--base-url" in r.output


def test_eval_tasks_lists_the_suite():
    r = runner.invoke(app, ["eval", "tasks", "medix17"])
    assert r.exit_code == 0 and len(r.output.strip().splitlines()) == 17
