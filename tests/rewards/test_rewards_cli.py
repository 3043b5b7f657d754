"""`medix-r1 reward score` end to end: output layout, summary, outages and bad input."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medix_r1.cli import app
from medix_r1.judges.prompts import ANSWER_MATCH_TEMPLATE_HASH
from medix_r1.testing.loopback import FaultPlan, LoopbackChatServer

runner = CliRunner()

ROWS = [
    {
        "id": "r1",
        "response": "<X_RAY><thinking>a</thinking><answer>left lung</answer>",
        "solution": "<X_RAY> Left lung.",
    },
    {
        "id": "r2",
        "response": "<X_RAY><thinking>a</thinking><answer>the left lung</answer>",
        "solution": "<X_RAY> left lung",
    },
    {
        "id": "r3",
        "response": "<CT_SCAN><thinking>a</thinking><answer>femur</answer>",
        "solution": "Left lung",
        "modality": "CR",
    },
    {"id": "r4", "response": "<X_RAY><thinking>a</thinking><answer>B</answer>", "solution": "<X_RAY> B"},
] + [
    {
        "id": f"u{i}",
        "response": f"<MRI_SCAN><thinking>t</thinking><answer>lesion {i} in liver</answer>",
        "solution": f"<MRI_SCAN> lesion {i % 7} in liver",
    }
    for i in range(30)
]


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def score(args: list[str]):
    return runner.invoke(app, ["reward", "score", *args, "--embedding-model", "hashing"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fake_judge_output_and_summary(tmp_path: Path) -> None:
    src = write_rows(tmp_path / "in.jsonl", ROWS)
    result = score(
        [
            str(src),
            "-o",
            str(tmp_path / "out.jsonl"),
            "--judge",
            "fake",
            "--summary-json",
            str(tmp_path / "s.json"),
        ]
    )
    assert result.exit_code == 0, result.output
    out = read_rows(tmp_path / "out.jsonl")
    assert [r["id"] for r in out] == [r["id"] for r in ROWS]
    assert list(out[0]) == [
        "id",
        "response",
        "solution",
        "overall",
        "format",
        "accuracy_llm",
        "accuracy_embed",
        "modality",
        "judge_prompt_hash",
    ]
    # Like evaluation rows, each row names the judge prompt it was scored with (the answer-match template).
    assert {r["judge_prompt_hash"] for r in out} == {ANSWER_MATCH_TEMPLATE_HASH}
    assert out[0]["overall"] == 1.0
    assert out[2]["input_modality"] == "CR" and out[2]["modality"] == 0.0  # CT_SCAN answered, X_RAY expected
    assert out[3]["accuracy_llm"] == 0.0  # a bare letter never scores
    summary = json.loads((tmp_path / "s.json").read_text())
    for key in (
        "rollouts",
        "scoring_seconds",
        "rollouts_per_second",
        "judge_requests",
        "judge_cache_hits",
        "judge_retries",
        "judge_failures",
        "unscored",
        "means",
    ):
        assert key in summary
    assert summary["rollouts"] == 34 and summary["unscored"] == 0 and summary["judge_failures"] == 0
    assert set(summary["means"]) == {"overall", "format", "accuracy_llm", "accuracy_embed", "modality"}
    assert "rollouts_per_second" in result.output


def test_twenty_percent_judge_failures_change_nothing(tmp_path: Path) -> None:
    src = write_rows(tmp_path / "in.jsonl", ROWS)
    with LoopbackChatServer() as clean:
        ok = score([str(src), "-o", str(tmp_path / "clean.jsonl"), "--judge-url", clean.base_url])
    assert ok.exit_code == 0, ok.output
    with LoopbackChatServer(faults=FaultPlan(rate=0.2, seed=3, hang_s=1)) as flaky:
        bad = score(
            [
                str(src),
                "-o",
                str(tmp_path / "flaky.jsonl"),
                "--judge-url",
                flaky.base_url,
                "--judge-timeout",
                "0.3",
                "--judge-retries",
                "8",
                "--summary-json",
                str(tmp_path / "s.json"),
            ]
        )
        injected = sum(flaky.faults_injected.values())
    assert bad.exit_code == 0, bad.output
    assert read_rows(tmp_path / "flaky.jsonl") == read_rows(tmp_path / "clean.jsonl")
    summary = json.loads((tmp_path / "s.json").read_text())
    assert injected > 0 and summary["judge_retries"] + summary["judge_unparseable"] >= injected
    assert summary["judge_failures"] == 0


def test_judge_down_exits_non_zero_naming_the_url(tmp_path: Path) -> None:
    src = write_rows(tmp_path / "in.jsonl", ROWS)
    url = f"http://127.0.0.1:{free_port()}/v1"
    result = score([str(src), "-o", str(tmp_path / "out.jsonl"), "--judge-url", url, "--judge-retries", "1"])
    assert result.exit_code == 3
    assert f"{url}/chat/completions" in result.output
    assert "Traceback" not in result.output


def test_judge_down_skip_leaves_only_the_judge_unscored(tmp_path: Path) -> None:
    src = write_rows(tmp_path / "in.jsonl", ROWS)
    url = f"http://127.0.0.1:{free_port()}/v1"
    result = score(
        [
            str(src),
            "-o",
            str(tmp_path / "out.jsonl"),
            "--judge-url",
            url,
            "--judge-retries",
            "1",
            "--on-judge-error",
            "skip",
            "--summary-json",
            str(tmp_path / "s.json"),
        ]
    )
    assert result.exit_code == 0, result.output
    with LoopbackChatServer() as clean:
        score([str(src), "-o", str(tmp_path / "ref.jsonl"), "--judge-url", clean.base_url])
    skipped, reference = read_rows(tmp_path / "out.jsonl"), read_rows(tmp_path / "ref.jsonl")
    for got, want in zip(skipped, reference, strict=True):
        for key in ("format", "accuracy_embed", "modality"):
            assert got[key] == want[key]  # untouched by the outage
        if got["accuracy_llm"] is None:
            # One policy (rewards/composite.py): the judge's share adds nothing, nothing is re-weighted,
            # so the outage can only lower the score, and a wrong answer scores what it does judge-up.
            rest = 0.3375 * got["accuracy_embed"] + 0.045 * got["modality"] + 0.1 * got["format"]
            assert got["overall"] == pytest.approx(rest) and got["overall"] <= want["overall"] + 1e-12
        else:  # shortcut rows (exact match, invalid answer, untagged) need no judge
            assert got["accuracy_llm"] == want["accuracy_llm"] and got["overall"] == want["overall"]
    unscored = sum(r["accuracy_llm"] is None for r in skipped)
    # r1-r3 and u7-u29 need the judge; r4 (a bare letter) and u0-u6 (exact matches) do not.
    assert unscored == 26
    assert json.loads((tmp_path / "s.json").read_text())["unscored"] == unscored


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"response": "a", "solution": "<X_RAY> b"}\n{oops\n', "in.jsonl:2: invalid JSON"),
        (
            b'{"id": 7, "response": "a"}\n',
            "in.jsonl:1 (id 7): field 'solution' must be a string, got nothing (missing)",
        ),
        (b'{"response": 3, "solution": "x"}\n', "in.jsonl:1: field 'response' must be a string, got int"),
        (b'{"response": "a", "solution": "<X_RAY> b"}\n\xff\xfe\n', "in.jsonl:2: not valid UTF-8"),
        (b"[1, 2]\n", "in.jsonl:1: expected a JSON object, got list"),
        (
            b'{"response": "a", "solution": "<CT_SCAN> b", "modality": "MR"}\n',
            "tagged <CT_SCAN> but 'modality' says <MRI_SCAN>",
        ),
    ],
)
def test_bad_input_names_file_line_and_field(tmp_path: Path, content: bytes, message: str) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(content)
    result = score([str(src), "-o", str(tmp_path / "out.jsonl"), "--judge", "fake"])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out.jsonl").exists()  # nothing scored before the input is known good


def test_judge_required_and_presets_listed(tmp_path: Path) -> None:
    src = write_rows(tmp_path / "in.jsonl", ROWS[:1])
    result = score([str(src), "-o", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2 and "--judge-url" in result.output
    listed = runner.invoke(app, ["reward", "presets"])
    assert listed.exit_code == 0 and "medix-r1-think" in listed.output and "no (exact)" in listed.output


@pytest.mark.parametrize(
    ("judge_model", "thinking_off"),
    [
        ("Qwen/Qwen3-4B-Instruct-2507", True),  # the published judge: thinking off through the chat template
        ("gpt-4o-mini", False),  # OpenAI's own models refuse unknown fields (the rule evaluation uses too)
    ],
)
def test_the_judge_is_asked_with_thinking_off_as_evaluation_asks_it(
    tmp_path: Path, judge_model, thinking_off
):
    from medix_r1.judges.fake import fake_chat_reply

    bodies = []

    def reply(messages, body):
        bodies.append(body)
        return fake_chat_reply(messages)

    src = write_rows(tmp_path / "in.jsonl", ROWS[:3])
    with LoopbackChatServer(reply) as server:
        result = score(
            [
                str(src),
                "-o",
                str(tmp_path / "out.jsonl"),
                "--judge-url",
                server.base_url,
                "--judge-model",
                judge_model,
            ]
        )
    assert result.exit_code == 0, result.output
    assert bodies and all(b["model"] == judge_model for b in bodies)
    expected = {"enable_thinking": False} if thinking_off else None
    assert {str(b.get("chat_template_kwargs")) for b in bodies} == {str(expected)}
