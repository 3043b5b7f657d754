"""Submission zips, leaderboard build and verification (including hostile archives)."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest

from medix_r1.evaluation import make_submission, submission_name
from medix_r1.leaderboard import build_leaderboard, verify_submission


def _rows(task, scores, grading="binary"):
    out = []
    for i, s in enumerate(scores):
        rounds = [s, s, s] if grading == "binary" else [s, s, s]
        ev = {
            "score": s if grading == "binary" else float(s),
            "status": "ok",
            "grading": grading,
            "rounds": rounds,
        }
        out.append(
            {
                "id": f"{task}_{i}",
                "task": task,
                "question": "q",
                "answer": "a",
                "response": "r",
                "evaluation": ev,
                "judge_model": "j-14b",
            }
        )
    return out


def _run_dir(root, stem, rows):
    d = root / stem
    d.mkdir(parents=True)
    (d / f"{stem}.jsonl").write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k != "evaluation"}) + "\n" for r in rows)
    )
    (d / f"{stem}_eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return d


def test_submission_name_is_the_published_one():
    # md5("MediX_R1_8B")[:8]; the variant hashing "MediX_R1_8B_submission" is accepted on verify
    assert submission_name("MBZUAI/MediX-R1-8B") == "48d6d76f_MediX_R1_8B_submission.zip"


def test_build_ranks_two_runs_into_html_and_csv(tmp_path):
    a = _run_dir(tmp_path / "runs", "Model_A", _rows("medqa", [1, 1, 0, 1]) + _rows("rad_vqa", [1, 0]))
    b = _run_dir(tmp_path / "runs", "Model_B", _rows("medqa", [1, 0, 0, 0]) + _rows("rad_vqa", [1, 1]))
    entries = build_leaderboard([b, a], tmp_path / "site")
    assert [e.model for e in entries] == ["Model_A", "Model_B"]  # 0.625 vs 0.625 -> tie broken by name
    assert entries[0].overall == pytest.approx((0.75 + 0.5) / 2) and entries[1].overall == pytest.approx(
        (0.25 + 1) / 2
    )
    rows = list(csv.DictReader(io.StringIO((tmp_path / "site" / "leaderboard.csv").read_text())))
    assert [(r["rank"], r["model"], r["overall"], r["medqa"], r["rad_vqa"], r["judge"]) for r in rows] == [
        ("1", "Model_A", "62.50", "75.00", "50.00", "j-14b"),
        ("2", "Model_B", "62.50", "25.00", "100.00", "j-14b"),
    ]
    page = (tmp_path / "site" / "index.html").read_text()
    assert "<th data-col='6' title='click to sort'>medqa</th>" in page and "addEventListener" in page


def test_submit_then_verify_roundtrip_and_tamper_detection(tmp_path):
    d = _run_dir(tmp_path / "out", "Model_A", _rows("medqa", [1, 0, 1]))
    (d / "scores.json").write_text(json.dumps({"model": "Model_A", "tasks": {"medqa": 2 / 3}}))
    z = make_submission(d)
    assert z.name == submission_name("Model_A") and z.parent == tmp_path / "submissions"  # not in out/
    with zipfile.ZipFile(z) as zf:
        assert sorted(zf.namelist()) == [
            "Model_A/Model_A.jsonl",
            "Model_A/Model_A_eval.jsonl",
            "Model_A/scores.json",
        ]
    ok = verify_submission(z, expected={"medqa": 3})
    assert ok.ok, ok.errors
    assert ok.scores.tasks["medqa"].score == pytest.approx(2 / 3)
    assert not verify_submission(z, expected={"medqa": 4}).ok  # count against the task list

    # a score that does not follow from its rounds, and a claim that does not match
    rows = _rows("medqa", [1, 0, 1])
    rows[1]["evaluation"]["score"] = 1
    (d / "Model_A_eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    z = make_submission(d)
    report = verify_submission(z, expected={"medqa": 3})
    assert not report.ok
    assert any("does not follow from rounds" in e for e in report.errors)
    assert any("scores.json claims medqa" in e for e in report.errors)


def test_verify_checks_ids(tmp_path):
    rows = _rows("medqa", [1, 1, 1])
    rows[2]["id"] = "medqa_5"
    rows.append(_rows("nosuchtask", [1])[0])
    z = make_submission(_run_dir(tmp_path / "o", "M", rows))
    errors = verify_submission(z, expected={"medqa": None}).errors
    assert any("gaps" in e for e in errors) and any("unknown task 'nosuchtask'" in e for e in errors)


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members:
            if isinstance(name, zipfile.ZipInfo):
                zf.writestr(name, data)
            else:
                zf.writestr(name, data)
    return path


@pytest.mark.parametrize(
    ("member", "message"),
    [
        ("../evil.txt", "escapes"),
        ("/etc/passwd", "escapes"),
        ("M/..\\..\\evil", "escapes"),
    ],
)
def test_verify_rejects_path_escapes(tmp_path, member, message):
    z = _zip(tmp_path / submission_name("M"), [("M/M_eval.jsonl", ""), (member, "x")])
    report = verify_submission(z)
    assert not report.ok and message in report.errors[0]


def test_verify_rejects_links_and_oversized_members(tmp_path):
    link = zipfile.ZipInfo("M/link")
    link.external_attr = (0o120777) << 16
    z = _zip(tmp_path / submission_name("M"), [("M/M_eval.jsonl", ""), (link, "/etc/passwd")])
    assert "symbolic link" in verify_submission(z).errors[0]
    z = _zip(tmp_path / submission_name("M"), [("M/M_eval.jsonl", "x" * 5000)])
    assert "limit 1000" in verify_submission(z, max_member_bytes=1000).errors[0]
