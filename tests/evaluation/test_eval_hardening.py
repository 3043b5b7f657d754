"""Issue 17 (evaluation and data rows): one model per results folder, one writer per folder,
duplicated ids repaired, tasks checked before any request, and the messages of bad input.

Each test runs the CLI as a user would (``medix-r1 eval run`` with the fake candidate and judge, or a
candidate URL nothing listens on, so a request sent by mistake would fail with another message) and
checks the exit code, the message and what is on disk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medix_r1.cli import app

runner = CliRunner()
#: A candidate URL with nothing behind it: a run that sent a request would stop with a candidate error.
DEAD_URL = "http://127.0.0.1:9/v1"


def _yaml(tmp_path: Path, body: str, rows: list[dict] | None = None) -> Path:
    rows = rows if rows is not None else [{"q": f"Question {i}?", "a": f"answer {i}"} for i in range(3)]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = tmp_path / "tasks.yaml"
    path.write_text(body)
    return path


PLAIN = "llm:\n  t:\n    data_files: d.jsonl\n    question_column: q\n    answer_column: a\n"


def _fake_run(tasks: Path, out: Path, model: str, *extra: str):
    args = ["eval", "run", "--model", model, "--tasks", str(tasks), "--out", str(out)]
    return runner.invoke(app, [*args, "--backend", "fake", "--judge-backend", "fake", "--no-report", *extra])


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


# -- 17.1 identity ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("first", "second", "folder"),
    [
        ("orgA/mymodel-8B", "orgB/mymodel-8B", "mymodel_8B"),
        ("cand-xss", "cand_xss", "cand_xss"),
    ],
)
def test_a_results_folder_belongs_to_one_model(tmp_path, first, second, folder):
    tasks, out = _yaml(tmp_path, PLAIN), tmp_path / "results"
    r = _fake_run(tasks, out, first)
    assert r.exit_code == 0, r.output
    assert "3 samples: generated 3 (had 0), judged 3 (had 0)" in r.output
    run_json = out / folder / "run.json"
    before = run_json.read_bytes()
    recorded = json.loads(before)
    assert recorded["model"] == first and recorded["backend"] == "fake" and recorded["tasks"] == ["t"]
    assert recorded["generation"] == {"fake_answer": "No abnormality is seen."}

    r = _fake_run(tasks, out, second)
    assert r.exit_code == 2
    assert r.output.strip() == (
        f"error: {out / folder} holds the results of model {first!r}, not {second!r} (both names map to "
        f"the folder name {folder!r}); give this run another --out folder so the two models' answers are "
        "never mixed"
    )
    assert run_json.read_bytes() == before  # run.json not rewritten with the other name

    r = _fake_run(tasks, out, first)  # the folder's own model resumes as before
    assert r.exit_code == 0 and "generated 0 (had 3)" in r.output, r.output
    r = _fake_run(tasks, tmp_path / "other", second)  # another --out is the way
    assert r.exit_code == 0 and "generated 3 (had 0)" in r.output, r.output


def test_the_folder_is_claimed_before_the_first_request(tmp_path):
    """A run that stops at its first request (candidate down) has still recorded its model."""
    tasks, out = _yaml(tmp_path, PLAIN), tmp_path / "results"
    args = ["eval", "run", "--model", "orgA/m", "--tasks", str(tasks), "--out", str(out)]
    r = runner.invoke(app, [*args, "--base-url", DEAD_URL, "--max-retries", "0", "--phases", "generate"])
    assert r.exit_code == 2 and "the candidate (orgA/m) at" in r.output, r.output
    run = json.loads((out / "m" / "run.json").read_text())
    assert run["model"] == "orgA/m" and run["summary"] is None and run["base_url"] == DEAD_URL
    r = _fake_run(tasks, out, "orgB/m")
    assert r.exit_code == 2 and "holds the results of model 'orgA/m', not 'orgB/m'" in r.output


# -- 17.2 tasks validated before any request ---------------------------------------------------------
def _refused(tmp_path: Path, tasks: Path) -> str:
    """Run against a dead candidate: the task error must come first, with nothing written."""
    out = tmp_path / "results"
    args = ["eval", "run", "--model", "m", "--tasks", str(tasks), "--out", str(out), "--base-url", DEAD_URL]
    r = runner.invoke(app, [*args, "--phases", "generate", "--max-retries", "0"])
    assert r.exit_code == 2, r.output
    assert not out.exists(), "nothing may be written before the tasks are checked"
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    return lines[0][len("error: ") :]


def test_a_missing_question_column_is_refused_with_did_you_mean(tmp_path):
    tasks = _yaml(tmp_path, PLAIN.replace("question_column: q", "question_column: qq"))
    assert _refused(tmp_path, tasks) == (
        f"task t: question_column 'qq' is not a column of {tmp_path / 'd.jsonl'}; did you mean 'q'?; "
        "its columns: a, q"
    )


@pytest.mark.parametrize("key", ["answer_column", "choices_column", "image_column"])
def test_every_named_column_must_exist(tmp_path, key):
    extra = {
        "answer_column": "",
        "choices_column": "    choices_column: [opa, opx]\n",
        "image_column": "    image_column: picture\n",
    }[key]
    body = (
        PLAIN.replace("answer_column: a", "answer_column: answr") if key == "answer_column" else PLAIN + extra
    )
    rows = [{"q": "Q?", "a": "x", "opa": "x"}]
    message = _refused(tmp_path, _yaml(tmp_path, body, rows))
    col = {"answer_column": "answr", "choices_column": "opx", "image_column": "picture"}[key]
    assert message.startswith(f"task t: {key} {col!r} is not a column of {tmp_path / 'd.jsonl'}")


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"q": "  ", "a": "x"}, "question column 'q' is empty"),
        ({"q": None, "a": "x"}, "question column 'q' is empty"),
        ({"q": "Q?", "a": ""}, "answer column 'a' is empty"),
        ({"q": "Q?", "a": "x", "img": ""}, "image column 'img' is empty"),
        ({"q": "Q?", "a": "x", "img": "pics"}, "is a folder, not a file"),
        ({"q": "Q?", "a": "x", "img": "empty.png"}, "is an empty file"),
    ],
)
def test_an_empty_field_names_the_task_file_and_row(tmp_path, row, field):
    (tmp_path / "pics").mkdir()
    (tmp_path / "empty.png").write_bytes(b"")
    good = {"q": "Fine?", "a": "yes", "img": "ok.png"}
    (tmp_path / "ok.png").write_bytes(b"\x89PNG not checked here")
    body = PLAIN + ("    image_column: img\n" if "img" in row else "")
    message = _refused(
        tmp_path, _yaml(tmp_path, body, [good, row] if "img" in row else [{"q": "F?", "a": "y"}, row])
    )
    assert message.startswith("task t, row t_1: ") and field in message
    assert message.endswith(f"({tmp_path / 'd.jsonl'}, row 2)")


def test_a_misspelt_group_is_an_error_with_did_you_mean(tmp_path):
    for wrong, right in (("lml", "llm"), ("vml", "vlm")):
        tasks = _yaml(tmp_path, PLAIN.replace("llm:", f"{wrong}:"))
        assert _refused(tmp_path, tasks) == (
            f"{tasks}: unknown group {wrong!r}; did you mean {right!r}?; groups: llm (text tasks), "
            "vlm (image tasks), extra (tasks reported apart from the overall score)"
        )


def test_a_row_with_options_but_no_question_is_sent_as_published(tmp_path):
    """The published loader sends such a row as its options block; only a row with nothing to ask stops."""
    from medix_r1.evaluation import load_task_file

    body = "llm:\n  t:\n    data_files: d.jsonl\n    question_column: q\n    answer_id: k\n    choices_column: [o1, o2]\n"
    task = load_task_file(_yaml(tmp_path, body, [{"q": None, "o1": "A1", "o2": "B2", "k": 1}]))[0]
    assert task.samples()[0].question == "Choices:\nA. A1\nB. B2"


def test_an_unreadable_image_names_task_sample_file_and_row(tmp_path, servers):
    cand, judge = servers
    (tmp_path / "bad.png").write_bytes(b"not an image")
    body = "vlm:\n  pics:\n    data_files: d.jsonl\n    question_column: q\n    answer_column: a\n    image_column: img\n"
    tasks = _yaml(tmp_path, body, [{"q": "Colour?", "a": "red", "img": "bad.png"}])
    args = ["eval", "run", "--model", "m", "--tasks", str(tasks), "--out", str(tmp_path / "o")]
    r = runner.invoke(app, [*args, "--base-url", cand.base_url, "--phases", "generate"])
    assert r.exit_code == 2
    assert "BytesIO" not in r.output
    assert (
        f"TaskConfigError: task pics, sample pics_0 ({tmp_path / 'd.jsonl'}, row 1): image "
        f"{tmp_path / 'bad.png'} (12 bytes) is not a readable image (cannot identify image file the data)"
    ) in r.output


# -- 17.4 one writer per folder; duplicated ids ------------------------------------------------------
def test_a_second_writer_is_refused_with_the_holders_pid(tmp_path):
    tasks, out = _yaml(tmp_path, PLAIN), tmp_path / "results"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from medix_r1.evaluation.files import RunLock; "
            f"lock = RunLock({str(out / 'm')!r}).acquire(); print('locked', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        r = _fake_run(tasks, out, "m")
        assert r.exit_code == 2
        assert r.output.startswith(
            f"error: {out / 'm'} is being written by another run (pid {holder.pid}, since "
        )
        assert "give this run another --out folder" in r.output
        assert not (out / "m" / "m.jsonl").exists()
    finally:
        holder.kill()
        holder.wait()
    r = _fake_run(tasks, out, "m")  # the kernel dropped the dead holder's lock: no stale lock to clean
    assert r.exit_code == 0 and "generated 3 (had 0)" in r.output, r.output


def test_duplicated_ids_are_repaired_keeping_the_first_row(tmp_path):
    tasks, out = _yaml(tmp_path, PLAIN), tmp_path / "results"
    assert _fake_run(tasks, out, "m").exit_code == 0
    gen, ev = out / "m" / "m.jsonl", out / "m" / "m_eval.jsonl"
    first_gen, first_eval = gen.read_text(), ev.read_text()
    # What two runs on one --out used to leave: every row twice (the second copy differs).
    gen.write_text(first_gen + first_gen.replace("Fake reasoning", "Other reasoning"))
    ev.write_text(first_eval + first_eval)
    assert len(_ids(gen)) == 6

    r = _fake_run(tasks, out, "m")
    assert r.exit_code == 0, r.output
    assert (
        "3 samples: generated 0 (had 3), judged 0 (had 3), judge_failed 0, removed 6 duplicate row(s) "
        "(first of each id kept)" in r.output
    )
    assert gen.read_text() == first_gen and ev.read_text() == first_eval
    assert json.loads((out / "m" / "run.json").read_text())["summary"]["duplicate_rows"] == 6

    r = runner.invoke(app, ["eval", "submit", str(out / "m")])
    assert r.exit_code == 0, r.output
    zip_path = r.output.strip().splitlines()[-1]
    r = runner.invoke(app, ["leaderboard", "verify", zip_path, "--tasks", str(tasks)])
    assert r.exit_code == 0 and "OK" in r.output, r.output


# -- 17.7 messages ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["folder", "corrupt"])
def test_a_bad_judge_cache_is_a_message(tmp_path, kind):
    cache = tmp_path / "cache"
    if kind == "folder":
        cache.mkdir()
    else:
        cache.write_text("this is not a database\n" * 100)
    rollouts = Path(__file__).parents[2] / "examples" / "rollouts.jsonl"
    out = tmp_path / "scored.jsonl"
    r = runner.invoke(
        app,
        [
            "reward",
            "score",
            str(rollouts),
            "-o",
            str(out),
            "--judge",
            "fake",
            "--judge-cache",
            str(cache),
            "--embedding-model",
            "hashing",
        ],
    )
    assert r.exit_code == 2 and "Traceback" not in r.output
    if kind == "folder":
        assert r.output.strip() == (
            f"error: judge cache {cache} is a folder: give a file name, e.g. {cache / 'verdicts.sqlite'}"
        )
    else:
        assert r.output.strip() == (
            f"error: judge cache {cache} is not a verdict cache (file is not a database): give a new file "
            "name, or delete the file if it is a damaged cache (its verdicts are asked again)"
        )
    assert not out.exists()


def test_write_records_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    from medix_r1.data.io import write_records

    target = tmp_path / "out.jsonl"
    target.write_text("old content\n")
    records = [{"id": "a", "image": [], "problem": "p", "solution": "<X_RAY> s"}]
    real = Path.write_text

    def half_then_fail(self, text, *args, **kwargs):
        real(self, text[:5], *args, **kwargs)
        raise OSError(28, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_text", half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        write_records(records, target)
    monkeypatch.undo()
    assert target.read_text() == "old content\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]  # no temporary file left
    write_records(records, target)
    assert json.loads(target.read_text())["id"] == "a"


def test_write_records_replaces_a_dataset_folder_whole(tmp_path):
    pytest.importorskip("datasets")
    from medix_r1.data.io import load_records, write_records

    target = tmp_path / "ds"
    rows = [
        {"id": str(i), "image": [], "source": "s", "problem": "p", "solution": "<X_RAY> s"} for i in range(2)
    ]
    write_records(rows, target, format="hf-disk")
    write_records(rows[:1], target, format="hf-disk")
    assert [r.id for r in load_records(target)] == ["0"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    assert os.listdir(target)


def test_a_second_training_run_on_one_folder_is_refused(tmp_path, monkeypatch):
    import medix_r1.models

    def no_model(*a, **k):
        raise AssertionError("the model loaded although the run folder is taken")

    monkeypatch.setattr(medix_r1.models, "load_policy", no_model)
    run_dir = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from medix_r1.evaluation.files import RunLock; "
            f"lock = RunLock({str(run_dir)!r}).acquire(); print('locked', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        data = Path(__file__).parents[2] / "examples" / "train.jsonl"
        r = runner.invoke(
            app, ["train", "quickstart", f"data.train={data}", f"checkpoint.output_dir={run_dir}"]
        )
        assert r.exit_code == 2, r.output
        assert r.output.startswith(
            f"error: {run_dir} is being written by another run (pid {holder.pid}, since "
        )
        assert "give this run another checkpoint.output_dir=FOLDER" in r.output
    finally:
        holder.kill()
        holder.wait()


def test_the_score_phase_alone_also_repairs_duplicated_ids(tmp_path):
    tasks, out = _yaml(tmp_path, PLAIN), tmp_path / "results"
    assert _fake_run(tasks, out, "m").exit_code == 0
    ev = out / "m" / "m_eval.jsonl"
    whole = ev.read_text()
    ev.write_text(whole + whole)
    r = _fake_run(tasks, out, "m", "--phases", "score")
    assert r.exit_code == 0, r.output
    assert ev.read_text() == whole and len(_ids(ev)) == 3
