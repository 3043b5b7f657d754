"""The published protocol, byte for byte (issue 14).

1. A table of crafted samples, one per quirk of the published harness (``eval/utils.py``), each with
   the exact candidate request and the exact text the judge is shown.
2. A run of the parity suite (``parity_suite.py``: local datasets in the published ``tasks.yaml``
   layout) against one mock server for both roles, asserting every task score. The expected scores are
   the ones the published harness itself gave on the same suite and mock
   (``compare_published.py``: 26 of 26 candidate requests byte-identical, 26 of 26 judge inputs and
   verdicts identical; see docs/evaluation.md).
3. The failure messages: who failed, at which URL, how many samples are left; a local dataset never
   downloads; a missing image folder names the task and the key to set.
4. Where a checkout of the published harness is given (``MEDIX_PUBLISHED_EVAL=/path/to/eval``), the
   comparison itself runs (skipped otherwise: the published code is not ours to ship).
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import io
import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from medix_r1.evaluation import JudgeProtocol, TaskConfigError, build_messages, load_task_file
from medix_r1.evaluation.tasks import ImageRef, task_from_fields
from medix_r1.testing.loopback import LoopbackChatServer

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("parity_suite", HERE / "parity_suite.py")
ps = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(ps)  # type: ignore[union-attr]


class _Recorder:
    """A chat client that records every request and answers with a script."""

    model = "judge-model"

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)
        self.requests: list[list[dict[str, Any]]] = []

    async def complete(self, messages: list[dict[str, Any]], **_: Any) -> str:
        self.requests.append(json.loads(json.dumps(messages)))
        return self.replies.pop(0)


def _judge_shown(question: str, answer: str, response: str, grading: str, replies: list[str]):
    client = _Recorder(replies)
    verdict = asyncio.run(JudgeProtocol(client).judge(question, answer, response, grading))
    return ps.judge_view(client.requests[0])[1:], verdict


def _text_turn(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "text", "text": text}]}]


# (quirk, task name, YAML fields, row, options, exact candidate text, reference)
MC = {"question_column": "q", "answer_id": "k", "choices_column": ["a", "b", "c"]}
QUIRKS = [
    (
        "PubMedQA: unquoted yes/no are YAML booleans, shown True/False; a list field shows its first item",
        "pubmedqa",
        {
            "question_column": ["CONTEXTS", "QUESTION"],
            "answer": ["final_decision", "LONG_ANSWER"],
            "choices": [True, False, "maybe"],
        },
        {"CONTEXTS": ["One.", "Two."], "QUESTION": "Q?", "final_decision": "yes", "LONG_ANSWER": "Because."},
        {},
        "Contexts:\nOne.\n\nQuestion:\nQ?\n\nChoices:\nA. True\nB. False\nC. maybe",
        "yes\nBecause.",
    ),
    (
        "--yes-no-choices: the words instead (a deliberate, score-changing difference)",
        "pubmedqa",
        {
            "question_column": ["CONTEXTS", "QUESTION"],
            "answer": ["final_decision", "LONG_ANSWER"],
            "choices": [True, False, "maybe"],
        },
        {"CONTEXTS": ["One."], "QUESTION": "Q?", "final_decision": "no", "LONG_ANSWER": "Not so."},
        {"yes_no_choices": True},
        "Contexts:\nOne.\n\nQuestion:\nQ?\n\nChoices:\nA. yes\nB. no\nC. maybe",
        "no\nNot so.",
    ),
    (
        "whitespace before Choices: stays; only the whole text is stripped",
        "medmcqa",
        MC,
        {"q": "  Which one?\t ", "a": "x", "b": "y", "c": "z", "k": 1},
        {},
        "Which one?\t \n\nChoices:\nA. x\nB. y\nC. z",
        "y",
    ),
    (
        "a missing option keeps its letter but has no line",
        "medmcqa",
        MC,
        {"q": "Which?", "a": "x", "b": None, "c": "z", "k": 2},
        {},
        "Which?\n\nChoices:\nA. x\nC. z",
        "z",
    ),
    (
        "an empty option list still shows the bare Choices: line",
        "pmc_vqa",
        {"question_column": "q", "answer_column": "ans", "choices_column": "opts"},
        {"q": "Which stain?", "opts": [], "ans": "H&E"},
        {},
        "Which stain?\n\nChoices:",
        "H&E",
    ),
    (
        "no question text: the text starts at Choices:",
        "usmle_sa",
        {"question_column": "q", "answer_column": "ans", "choices_column": "opts"},
        {"q": None, "opts": {"A": "Aspirin", "B": "Heparin"}, "ans": "Heparin"},
        {},
        "Choices:\nA. Aspirin\nB. Heparin",
        "Heparin",
    ),
    (
        "MIMIC summarisation: the fixed instruction, the report, the trailing ':'",
        "mimic_cxr_report_summarization",
        {"question_column": None, "answer_column": "summary", "choices_column": []},
        {"report": "FINDINGS: clear.", "summary": "Normal."},
        {},
        "Write a short summary of the following report.\n\nReport:\nFINDINGS: clear.:",
        "Normal.",
    ),
    (
        "MIMIC generation: the fixed instruction",
        "mimic_cxr_report_generation",
        {
            "question_column": None,
            "answer_column": "report",
            "choices_column": [],
            "data_files": "unused.jsonl",
        },
        {"report": "Lungs clear.", "image": None},
        {},
        "Generate a detailed report based on the scan.",
        "Lungs clear.",
    ),
]


@pytest.mark.parametrize(
    ("quirk", "task", "fields", "row", "options", "text", "reference"),
    QUIRKS,
    ids=[q[0][:40] for q in QUIRKS],
)
def test_candidate_text_is_the_published_text(quirk, task, fields, row, options, text, reference, tmp_path):
    spec = task_from_fields(task, fields, group="llm", base_dir=tmp_path, defaults=_published(task))
    spec = _no_images(spec)
    sample = spec.sample_from_row(row, 0, **options)
    assert build_messages(sample) == _text_turn(text)  # a text-only turn is a list of one text part
    assert sample.answer == reference
    shown, _ = _judge_shown(sample.question, sample.answer, " B ", spec.grading, ['{"score": 1}'] * 3)
    assert shown == (text, reference, " B ")


def _published(name: str):
    from medix_r1.evaluation.registry import PUBLISHED_TASKS

    return PUBLISHED_TASKS.get(name)


def _no_images(spec):
    from dataclasses import replace

    return replace(spec, quirk=replace(spec.quirk, text_only=True))


@pytest.mark.parametrize(
    ("reply", "shown"),
    [
        # published: the text after the last </think> when there is one, else after the last </thinking>
        ("<think>a</think><thinking>b</thinking> B", "<thinking>b</thinking> B"),
        ("<thinking>a</thinking>\n B \n", "B"),
        ("<think>a</think> x </think> B ", "B"),
        ("  B  ", "  B  "),  # no tag: passed on unstripped
    ],
)
def test_judge_is_shown_the_published_cut(reply, shown):
    seen, _ = _judge_shown("Q?", "B", reply, "binary", ['{"score": 1}'] * 3)
    assert seen == ("Q?", "B", shown)


@pytest.mark.parametrize(
    ("grading", "replies", "rounds", "score", "value"),
    [
        (
            "scale5",
            ['{"score": 3.5}', '{"score": 4}', '{"score": "4.5"}'],
            [3.5, 4, 4.5],
            4.0,
            0.8,
        ),  # half points
        ("binary", ['{"score": "1"}', '{"score": 0}', '```json\n{\n"score": 1.0\n}\n```'], [1, 0, 1], 1, 1.0),
        ("binary", ['{"score": 2}', '{"score": 1}', '{"score": 0}'], [2, 1, 0], 0, 0.0),  # only 1 is a "1"
        ("binary", ['<think>{"score": 0}</think>{"score": 1, "why": {"a": 0}}'] * 3, [1, 1, 1], 1, 1.0),
    ],
)
def test_verdict_values_the_published_parser_accepts(grading, replies, rounds, score, value):
    _, verdict = _judge_shown("Q?", "B", "B", grading, replies)
    assert (verdict.status, verdict.rounds, verdict.score, verdict.value) == ("ok", rounds, score, value)


def test_mimic_in_a_task_name_means_0_to_5(tmp_path):
    spec = task_from_fields("notes_mimic_style", {"question_column": "q", "answer_column": "a"}, group="llm")
    assert spec.grading == "scale5"
    assert (
        task_from_fields("notes", {"question_column": "q", "answer_column": "a"}, group="llm").grading
        == "binary"
    )


def _jpeg_with_orientation(orientation: int) -> bytes:
    from PIL import Image

    image = Image.new("RGB", (8, 4), (30, 120, 30))
    image.putpixel((0, 0), (255, 255, 255))
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


def _sent_image(url: str):
    from PIL import Image

    assert url.startswith("data:image/jpeg;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def test_image_feature_is_sent_exif_transposed_as_datasets_decodes_it():
    import datasets
    from PIL import Image

    data = _jpeg_with_orientation(6)
    spec = task_from_fields(
        "rad_vqa", {"question_column": "q", "answer_column": "a"}, group="vlm", defaults=_published("rad_vqa")
    )
    sample = spec.sample_from_row({"q": "Fracture?", "a": "yes", "image": {"bytes": data, "path": None}}, 0)
    messages = build_messages(sample)
    assert [p["type"] for p in messages[0]["content"]] == ["image_url", "text"]
    # exactly what the published harness sends: the datasets decoder's image, RGB, JPEG at PIL's default
    decoded = datasets.Image().decode_example({"bytes": data, "path": None}).convert("RGB")
    buf = io.BytesIO()
    decoded.save(buf, format="JPEG")
    assert (
        messages[0]["content"][0]["image_url"]["url"]
        == "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
    )
    assert _sent_image(messages[0]["content"][0]["image_url"]["url"]).size == (4, 8)  # rotated
    assert Image.open(io.BytesIO(data)).size == (8, 4)


def test_slake_image_files_keep_their_stored_orientation(tmp_path):
    folder = tmp_path / "imgs" / "x"
    folder.mkdir(parents=True)
    (folder / "a.jpg").write_bytes(_jpeg_with_orientation(6))
    spec = task_from_fields(
        "slake_vqa",
        {
            "path": str(tmp_path),
            "image_dir": str(tmp_path / "imgs"),
            "question_column": "question",
            "answer_column": "answer",
        },
        group="vlm",
        defaults=_published("slake_vqa"),
    )
    sample = spec.sample_from_row(
        {"question": "Organ?", "answer": "Liver", "img_name": "x/a.jpg", "q_lang": "en"},
        0,
        image_dir=tmp_path / "imgs",
    )
    assert isinstance(sample.image, ImageRef) and sample.image.exif_transpose is False
    assert _sent_image(build_messages(sample)[0]["content"][0]["image_url"]["url"]).size == (8, 4)


# --- the parity suite: every task score -------------------------------------------------------------
#: What the published harness scored on the parity suite with the same mock (compare_published.py).
PUBLISHED_SCORES = {
    "mmlu_anatomy": Fraction(3, 4),
    "medmcqa": Fraction(1),
    "usmle_sa": Fraction(1, 3),
    "pubmedqa": Fraction(0),
    "mimic_cxr_report_summarization": Fraction(13, 30),
    "notes_mimic_style": Fraction(4, 15),
    "slake_vqa": Fraction(0),
    "rad_vqa": Fraction(2, 3),
    "pmc_vqa": Fraction(1),
    "mimic_cxr_report_generation": Fraction(37, 60),
}


def _run_cli(args: list[str]):
    from typer.testing import CliRunner

    from medix_r1.cli import app

    return CliRunner().invoke(app, args)


def _only(*names: str) -> str:
    """A YAML of the parity suite's tasks ``names`` only (same entries, same groups)."""
    import yaml

    full = yaml.safe_load(Path("tasks.yaml").read_text())
    part = {g: {n: f for n, f in entries.items() if n in names} for g, entries in full.items()}
    Path("part.yaml").write_text(yaml.safe_dump({g: e for g, e in part.items() if e}, sort_keys=False))
    return "part.yaml"


def _eval_args(server: LoopbackChatServer, out: Path, *extra: str, tasks: str = "tasks.yaml") -> list[str]:
    url = server.base_url
    return ["eval", "run", "--model", ps.CANDIDATE_MODEL, "--tasks", tasks, "--out", str(out),
            "--base-url", url, "--judge-url", url, "--judge-model", ps.JUDGE_MODEL, "--no-report",
            "--concurrency", "4", *extra]  # fmt: skip


@pytest.fixture
def parity_dir(tmp_path, monkeypatch):
    root = tmp_path / "suite"
    ps.build_suite(root)
    monkeypatch.chdir(root)  # the published layout's image folders are relative to the working directory
    return root


def test_parity_suite_gives_the_published_task_scores(parity_dir):
    with LoopbackChatServer(ps.mock_reply) as server:
        r = _run_cli(_eval_args(server, parity_dir / "out"))
    assert r.exit_code == 0, r.output
    scores = json.loads((parity_dir / "out" / "parity_model" / "scores.json").read_text())
    assert list(scores["tasks"]) == list(PUBLISHED_SCORES)
    for task, expected in PUBLISHED_SCORES.items():
        assert scores["tasks"][task] == pytest.approx(float(expected), abs=1e-15), task
    assert scores["overall"] == pytest.approx(float(sum(PUBLISHED_SCORES.values()) / 10), abs=1e-15)
    rows = [
        json.loads(line) for line in (parity_dir / "out" / "parity_model" / "parity_model_eval.jsonl").open()
    ]
    assert sorted(r["id"] for r in rows) == sorted(
        ps.EXPECTED_IDS
    )  # SLAKE's Chinese row left out, as published
    assert all(r["evaluation"]["status"] == "ok" for r in rows)


def test_yes_no_choices_shows_the_words_and_changes_the_score(parity_dir):
    with LoopbackChatServer(ps.mock_reply) as server:
        r = _run_cli(_eval_args(server, parity_dir / "out", "--yes-no-choices", tasks=_only("pubmedqa")))
    assert r.exit_code == 0, r.output
    rows = [
        json.loads(line) for line in (parity_dir / "out" / "parity_model" / "parity_model_eval.jsonl").open()
    ]
    assert all(r["question"].endswith("Choices:\nA. yes\nB. no\nC. maybe") for r in rows)
    scores = json.loads((parity_dir / "out" / "parity_model" / "scores.json").read_text())
    assert scores["tasks"]["pubmedqa"] != float(PUBLISHED_SCORES["pubmedqa"]), (
        "the option must be able to matter"
    )


# --- failures ---------------------------------------------------------------------------------------
class _FailingOn(LoopbackChatServer):
    """Answers HTTP 500 to every request whose body contains ``needle``."""

    def __init__(self, reply, needle: bytes) -> None:
        super().__init__(reply)
        self.needle = needle

    async def _respond(self, method: str, path: str, raw: bytes):
        if self.needle in raw:
            return 500, b'{"error": "boom"}', ""
        return await super()._respond(method, path, raw)


def test_a_failing_candidate_is_named_with_its_url_and_the_true_count_left(parity_dir):
    needle = (
        b'"model":"'
        + ps.CANDIDATE_MODEL.encode()
        + b'","messages":[{"role":"user","content":[{"type":"text","text":"Which nerve'
    )
    with _FailingOn(ps.mock_reply, needle) as server:
        r = _run_cli(
            _eval_args(server, parity_dir / "out", "--max-retries", "1", tasks=_only("mmlu_anatomy"))
        )
    assert r.exit_code == 2
    message = " ".join(r.output.split())
    url = f"{server.base_url}/chat/completions"
    assert f"the candidate ({ps.CANDIDATE_MODEL}) at {url} failed on sample mmlu_anatomy_1" in message
    assert (
        "no answer after 2 attempt(s) (HTTP 500)" in message and "judge" not in message.split("failed on")[0]
    )
    assert "(1 of 4 sample(s) still to do)" in message


def test_a_failing_judge_is_named_as_the_judge(parity_dir):
    needle = b'"model":"' + ps.JUDGE_MODEL.encode() + b'"'
    with _FailingOn(ps.mock_reply, needle) as server:
        r = _run_cli(_eval_args(server, parity_dir / "out", "--max-retries", "0", tasks=_only("medmcqa")))
    assert r.exit_code == 2
    message = " ".join(r.output.split())
    assert (
        f"the judge ({ps.JUDGE_MODEL}) at {server.base_url}/chat/completions failed on sample medmcqa_"
        in message
    )
    assert "(3 of 3 sample(s) still to do)" in message


def test_local_slake_without_an_image_folder_names_the_key_and_never_downloads(parity_dir, monkeypatch):
    import huggingface_hub

    def no_download(*args, **kwargs):
        raise AssertionError("a local dataset must never trigger a hub download")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_download)
    import shutil

    shutil.rmtree(parity_dir / "tmp" / "slake")
    tasks = {t.name: t for t in load_task_file(parity_dir / "tasks.yaml")}
    with pytest.raises(TaskConfigError) as info:
        tasks["slake_vqa"].samples()
    assert str(info.value) == (
        "task slake_vqa: its rows name image files ('img_name') but no image folder is given: set "
        "`image_dir:` in the task entry (relative to the YAML file), or put the images in ./tmp/slake/imgs "
        "as the published harness does"
    )
    with LoopbackChatServer(ps.mock_reply) as server:
        r = _run_cli(_eval_args(server, parity_dir / "out"))
    assert (
        r.exit_code == 2 and "set `image_dir:` in the task entry" in r.output and "Traceback" not in r.output
    )


def test_a_missing_local_dataset_folder_is_an_error_not_a_hub_id(tmp_path):
    spec = task_from_fields(
        "rad_vqa",
        {"path": "./no/such/folder", "answer_column": "a"},
        group="vlm",
        base_dir=tmp_path,
        defaults=_published("rad_vqa"),
    )
    with pytest.raises(
        TaskConfigError, match=r"task rad_vqa: dataset folder './no/such/folder' does not exist"
    ):
        spec.samples()


def test_image_dir_key_must_be_a_folder(tmp_path):
    spec = task_from_fields(
        "slake_vqa",
        {"path": str(tmp_path), "image_dir": "nope", "answer_column": "a"},
        group="vlm",
        base_dir=tmp_path,
        defaults=_published("slake_vqa"),
    )
    with pytest.raises(TaskConfigError, match=r"task slake_vqa: image_dir 'nope' is not a folder"):
        spec.samples()


# --- the published harness itself, where a checkout is given ---------------------------------------
@pytest.mark.skipif(
    not os.environ.get("MEDIX_PUBLISHED_EVAL"), reason="set MEDIX_PUBLISHED_EVAL=<published eval/ folder>"
)
def test_published_harness_and_ours_agree_on_every_request(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(HERE / "compare_published.py"), "--published-eval", os.environ["MEDIX_PUBLISHED_EVAL"],
         "--work", str(tmp_path / "parity")],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 difference(s)" in proc.stdout


def test_a_published_layout_entry_takes_published_defaults_not_the_registry(tmp_path):
    """An entry with `path` leaving out split / choices_column / name reads as the published loader
    reads it (split test, no options, no config), not with our registry's values for that name."""
    (tmp_path / "t.yaml").write_text(
        "vlm:\n  pmc_vqa:\n    path: ./x\n    question_column: question\n    answer_column: answer\n"
    )
    (task,) = load_task_file(tmp_path / "t.yaml")
    assert (task.split, task.subset, task.choices_column, task.grading) == ("test", None, None, "binary")
    assert task.expected_size is None and task.group == "vlm"


def test_an_image_feature_mode_is_applied_as_datasets_applies_it(tmp_path):
    """A feature declared `Image(mode="L")` decodes to grey; the published harness then converts to RGB."""
    import datasets
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 90)).save(buf, format="PNG")
    features = datasets.Features(
        {"q": datasets.Value("string"), "a": datasets.Value("string"), "image": datasets.Image(mode="L")}
    )
    (tmp_path / "ds").mkdir()
    datasets.Dataset.from_list(
        [{"q": "Q?", "a": "A", "image": {"bytes": buf.getvalue(), "path": None}}], features=features
    ).to_parquet(str(tmp_path / "ds" / "test.parquet"))
    spec = task_from_fields(
        "grey", {"path": str(tmp_path / "ds"), "question_column": "q", "answer_column": "a"}, group="vlm"
    )
    (sample,) = spec.samples()
    expected = io.BytesIO()
    datasets.load_dataset(str(tmp_path / "ds"), split="test")[0]["image"].convert("RGB").save(
        expected, "JPEG"
    )
    url = build_messages(sample)[0]["content"][0]["image_url"]["url"]
    assert url == "data:image/jpeg;base64," + base64.b64encode(expected.getvalue()).decode()


def test_system_turn_and_force_think_are_the_published_shapes():
    """SYSTEM_PROMPT / FORCE_THINK=1 of the published harness: `--system-prompt`, `--force-think`."""
    from medix_r1.evaluation import EvalSample

    sample = EvalSample(id="t_0", task="t", index=0, question="Q?", answer="A")
    assert build_messages(sample, system_prompt="Be brief.", force_think=True) == [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": [{"type": "text", "text": "Q? <think>"}]},
    ]
