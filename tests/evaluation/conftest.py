"""Shared pieces of the evaluation tests: a small suite in the published ``tasks.yaml`` layout and a
scripted candidate and judge to put behind loopback servers.

Each question carries a script ``votes=a,b,c``: the candidate repeats it after a decoy inside its
reasoning (so a judge that saw the reasoning would read the decoy), and the scripted judge answers
round *k* of a conversation with the *k*-th vote (``x`` = an unreadable reply). Expected scores
follow by hand from the scripts; see ``EXPECTED`` below.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SUITE_YAML = """\
llm:
  bones:
    data_files: bones.jsonl
    question_column: q
    answer_id: label
    choices_column: [opa, opb, opc]
  pubmed_like:
    data_files: pubmed.jsonl
    question_column: [CONTEXTS, QUESTION]
    answer: [final_decision, LONG_ANSWER]
    choices: [yes, no, maybe]
  reports:
    data_files: reports.jsonl
    question_column: report
    answer_column: summary
    grading: scale5
vlm:
  pictures:
    data_files: pictures.parquet
    question_column: question
    answer_column: answer
    image_column: image
"""

BONES = [
    {"q": "Longest bone? votes=1,1,1", "opa": "Femur", "opb": "Tibia", "opc": "Ulna", "label": 0},
    {"q": "Smallest bone? votes=1,0,0", "opa": "Femur", "opb": "Tibia", "opc": "Stapes", "label": 2},
    {"q": "Skull bone? votes=0,1,1", "opa": "Parietal", "opb": "Tibia", "opc": "Ulna", "label": 0},
]
PUBMED = [
    {
        "CONTEXTS": ["First context.", "Second."],
        "QUESTION": "Works? votes=x,x,x",
        "final_decision": "yes",
        "LONG_ANSWER": "It works.",
    },
    {
        "CONTEXTS": ["Only context."],
        "QUESTION": "Harms? votes=x,1,1,1",
        "final_decision": "no",
        "LONG_ANSWER": "No harm.",
    },
]
REPORTS = [
    {"report": "Clear lungs. votes=5,4,3", "summary": "Normal chest."},
    {"report": "Opacity left base. votes=0,1,2", "summary": "Left basal pneumonia."},
]
PICTURES = [
    {"question": "Colour? votes=1,1,1", "answer": "red", "color": (200, 10, 10)},
    {"question": "Shape? votes=0,0,0", "answer": "square", "color": (10, 200, 10)},
]

# bones: 1, 0, 1 -> 2/3; pubmed_like: judge_failed, 1 -> 1.0; reports: 4/5, 1/5 -> 0.5; pictures: 1, 0 -> 0.5
EXPECTED = {"bones": 2 / 3, "pubmed_like": 1.0, "reports": 0.5, "pictures": 0.5}
EXPECTED_OVERALL = (2 / 3 + 1.0 + 0.5 + 0.5) / 4
EXPECTED_MICRO = (1 + 0 + 1 + 1 + 0.8 + 0.2 + 1 + 0) / 8
N_SAMPLES = 9


def _png(color: tuple[int, int, int]) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (6, 6), color).save(buf, format="PNG")
    return buf.getvalue()


def write_suite(root: Path) -> Path:
    """Write the suite's YAML and data files into ``root``; returns the YAML path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root.mkdir(parents=True, exist_ok=True)
    (root / "tasks.yaml").write_text(SUITE_YAML)
    for name, rows in (("bones", BONES), ("pubmed", PUBMED), ("reports", REPORTS)):
        (root / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    table = pa.table(
        {
            "question": [r["question"] for r in PICTURES],
            "answer": [r["answer"] for r in PICTURES],
            "image": [{"bytes": _png(r["color"]), "path": None} for r in PICTURES],
        }
    )
    pq.write_table(table, root / "pictures.parquet")
    return root / "tasks.yaml"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")


def candidate_reply(messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
    """Repeat the question's vote script after a decoy script inside the reasoning."""
    user = _text(messages[-1]["content"])
    script = re.search(r"votes=([x\d,]+)", user)
    votes = script.group(1) if script else "0"
    has_image = not isinstance(messages[-1]["content"], str) and any(
        p.get("type") == "image_url" and p["image_url"]["url"].startswith("data:image/jpeg;base64,")
        for p in messages[-1]["content"]
    )
    seen = " with image" if has_image else ""
    return f"<think>Decoy votes=0,0,0,0.</think>Final answer{seen}: votes={votes}"


def judge_reply(messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
    """Answer round k (counted by earlier assistant turns) with the k-th vote of the candidate's script."""
    first = _text(messages[0]["content"])
    block = re.search(r"<candidate>\n(.*?)\n</candidate>", first, re.DOTALL)
    assert block is not None, "judge prompt must delimit the candidate"
    script = re.search(r"votes=([x\d,]+)", block.group(1))
    votes = script.group(1).split(",") if script else ["0"]  # an unscripted candidate is wrong
    k = sum(1 for m in messages if m["role"] == "assistant")
    vote = votes[min(k, len(votes) - 1)]
    if vote == "x":
        return "I would rather not say."
    return f'<think>Weighing it.</think>```json\n{{"score": {vote}}}\n```'


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    return write_suite(tmp_path / "suite")


@pytest.fixture
def servers():
    """A loopback candidate and a loopback judge, each in its own thread."""
    from medix_r1.testing.loopback import LoopbackChatServer

    with LoopbackChatServer(candidate_reply) as cand, LoopbackChatServer(judge_reply) as judge:
        yield cand, judge


@pytest.fixture
def kit():
    """This module's constants and helpers (tests cannot import a conftest under importlib mode)."""
    import types

    return types.SimpleNamespace(
        **{k: v for k, v in globals().items() if not k.startswith("_") or k == "_text"}
    )
