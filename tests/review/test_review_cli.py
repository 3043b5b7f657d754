"""The thin ``medix-r1 review`` layer: create, add-reviewer, status and report, and its error messages."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from medix_r1.cli import app
from medix_r1.review import ReviewStore

runner = CliRunner()


def test_pairwise_study_from_the_command_line(runs, tmp_path):
    study = tmp_path / "study.db"
    args = ["review", "create", "--pairwise", str(runs["good"]), str(runs["weak"]), "--n", "5", "--seed", "9"]
    r = runner.invoke(app, [*args, "--out", str(study), "--show-reasoning"])
    assert r.exit_code == 0, r.output
    assert (
        "(pairwise)" in r.output and "5 items, 0 reviewer(s), 0 vote(s)" in r.output and "seed 9" in r.output
    )
    r = runner.invoke(app, [*args, "--out", str(study)])
    assert r.exit_code == 2 and "already exists" in r.output
    r = runner.invoke(app, ["review", "add-reviewer", str(study), "--name", "Dr A"])
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[-1]
    store = ReviewStore.open(study)
    assert store.study.settings["show_reasoning"] is True and store.study.settings["seed"] == 9
    reviewer = store.authenticate(token)
    assert reviewer.name == "Dr A"
    store.cast_vote(reviewer.reviewer_id, store.items()[0].item_id, "tie")
    r = runner.invoke(app, ["review", "status", str(study)])
    assert r.exit_code == 0 and "Dr A" in r.output and "1/5" in r.output
    r = runner.invoke(app, ["review", "report", str(study)])
    assert r.exit_code == 0, r.output
    assert "| overall | 1/5 | 1 | 0.0 (0.0-0.0) | 100.0 (100.0-100.0) |" in r.output
    out = tmp_path / "study_report"
    assert {p.name for p in out.iterdir()} == {"report.md", "report.html", "report.json", "review_chart.png"}
    store.close()


def test_judge_audit_through_a_database_url_in_the_environment(runs, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    monkeypatch.setenv("REVIEW_DB", url)
    r = runner.invoke(
        app, ["review", "create", "--judge-audit", str(runs["weak"]), "--n", "4", "--db-url-env", "REVIEW_DB"]
    )
    assert r.exit_code == 0, r.output
    assert "(judge_audit)" in r.output and "4 items" in r.output
    r = runner.invoke(app, ["review", "add-reviewer", "--db-url-env", "REVIEW_DB", "--name", "R1"])
    token = r.stdout.strip().splitlines()[-1]
    store = ReviewStore.open(url)
    rid = store.authenticate(token).reviewer_id
    for it in store.items():
        store.cast_vote(rid, it.item_id, it.judge["label"])
    r = runner.invoke(app, ["review", "report", "--db-url-env", "REVIEW_DB", "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    assert "observed agreement 100.0%" in r.output
    assert json.loads((runs["weak"] / "judge_audit.json").read_text())["votes"] == 4
    r = runner.invoke(app, ["review", "report", "--db-url-env", "REVIEW_DB"])
    assert r.exit_code == 2 and "needs --out" in r.output
    store.close()


def test_errors_say_what_to_change(runs, tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_VAR", raising=False)
    cases = [
        (
            ["review", "create", "--out", str(tmp_path / "x.db")],
            "choose one: --pairwise RUN_A RUN_B or --judge-audit",
        ),
        (["review", "create", "--judge-audit", str(runs["weak"])], "name the study once"),
        (
            ["review", "create", "--judge-audit", str(runs["weak"]), "--db-url-env", "NO_SUCH_VAR"],
            "environment variable NO_SUCH_VAR is not set",
        ),
        (["review", "serve", str(tmp_path / "missing.db")], "does not exist"),
        (
            [
                "review",
                "create",
                "--judge-audit",
                str(runs["weak"]),
                "--tasks",
                "mini_xray",
                "--out",
                str(tmp_path / "y.db"),
            ],
            "did you mean 'mini_x_ray'",
        ),
    ]
    for args, message in cases:
        r = runner.invoke(app, args)
        assert r.exit_code == 2 and message in r.output, (args, r.output)
    (tmp_path / "junk.db").write_bytes(b"not sqlite at all" * 100)
    r = runner.invoke(app, ["review", "status", str(tmp_path / "junk.db")])
    assert r.exit_code == 2 and "is not a review study database" in r.output
