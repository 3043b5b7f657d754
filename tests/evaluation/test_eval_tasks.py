"""Task registry: each published task maps a hand-made row as published; YAML files; errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from medix_r1.evaluation import EXTRA_TASKS, PUBLISHED_TASKS, TaskConfigError, UnknownTaskError, resolve_tasks
from medix_r1.evaluation.registry import (
    MIMIC_GENERATION_INSTRUCTION,
    MIMIC_SUMMARY_INSTRUCTION,
    load_task_file,
    mini_suite,
)


def _png(color=(1, 2, 3)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 4), color).save(buf, format="PNG")
    return buf.getvalue()


MCQ = "Q?\n\nChoices:\nA. w\nB. x\nC. y\nD. z"

# (task, hand-made row in the dataset's own columns, expected question, expected reference)
ROWS = [
    *[
        (name, {"question": "Q?", "choices": ["w", "x", "y", "z"], "answer": 2, "subject": "s"}, MCQ, "y")
        for name in PUBLISHED_TASKS
        if name.startswith("mmlu_")
    ],
    ("medmcqa", {"question": "Q?", "opa": "w", "opb": "x", "opc": "y", "opd": "z", "cop": 3}, MCQ, "z"),
    (
        "medqa",
        {"sent1": "Q?", "ending0": "w", "ending1": "x", "ending2": "y", "ending3": "z", "label": 0},
        MCQ,
        "w",
    ),
    # options as a dict; the reference is the answer column's text
    (
        "usmle_sa",
        {"question": "Q?", "options": {"A": "w", "B": "x", "C": "y", "D": "z"}, "answer": "x"},
        MCQ,
        "x",
    ),
    (
        "pubmedqa",
        {
            "CONTEXTS": ["First part.", "Second part."],
            "QUESTION": "Does it?",
            "final_decision": "maybe",
            "LONG_ANSWER": "Unclear.",
        },
        # YAML's unquoted yes / no are booleans: the published loader shows True / False
        "Contexts:\nFirst part.\n\nQuestion:\nDoes it?\n\nChoices:\nA. True\nB. False\nC. maybe",
        "maybe\nUnclear.",
    ),
    (
        "mimic_cxr_report_summarization",
        {"report": "Findings: clear.", "summary": "Normal.", "image": None},
        MIMIC_SUMMARY_INSTRUCTION.format(report="Findings: clear."),
        "Normal.",
    ),
    (
        "rad_vqa",
        {"question": "Is it normal?", "answer": "yes", "image": {"bytes": _png(), "path": None}},
        "Is it normal?",
        "yes",
    ),
    (
        "path_vqa",
        {"question": "Organ?", "answer": "liver", "image": {"bytes": _png(), "path": None}},
        "Organ?",
        "liver",
    ),
    (
        "pmc_vqa",
        {
            "question": "Q?",
            "choices": ["w", "x", "y", "z"],
            "answer": "y",
            "image": {"bytes": _png(), "path": None},
        },
        MCQ,
        "y",
    ),
    (
        "pmc_vqa_hard",
        {"question": "What?", "answer": "a cyst", "image": {"bytes": _png(), "path": None}},
        "What?",
        "a cyst",
    ),
]


@pytest.mark.parametrize(("task", "row", "question", "reference"), ROWS, ids=[r[0] for r in ROWS])
def test_published_row_mapping(task, row, question, reference):
    sample = PUBLISHED_TASKS[task].sample_from_row(row, 7)
    assert sample.id == f"{task}_7"
    assert sample.question == question
    assert sample.answer == reference
    assert (sample.image is not None) == (PUBLISHED_TASKS[task].group == "vlm")


def test_every_published_task_is_covered_and_the_suite_has_17():
    covered = {r[0] for r in ROWS} | {"slake_vqa", "mimic_cxr_report_generation"}
    assert covered == set(PUBLISHED_TASKS) and len(PUBLISHED_TASKS) == 17
    assert [n for n, t in PUBLISHED_TASKS.items() if t.grading == "scale5"] == [
        "mimic_cxr_report_summarization",
        "mimic_cxr_report_generation",
    ]


def test_slake_keeps_english_rows_and_reads_images_from_its_folder(tmp_path):
    (tmp_path / "imgs" / "xmlab1").mkdir(parents=True)
    (tmp_path / "imgs" / "xmlab1" / "source.jpg").write_bytes(_png())
    rows = [
        {"question": "哪里?", "answer": "肺", "q_lang": "zh", "img_name": "xmlab1/source.jpg"},
        {"question": "Where?", "answer": "Lung", "q_lang": "en", "img_name": "xmlab1/source.jpg"},
    ]
    (tmp_path / "slake.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    (tmp_path / "tasks.yaml").write_text(
        "vlm:\n  slake_vqa:\n    data_files: slake.jsonl\n    image_dir: imgs\n"
    )
    (task,) = load_task_file(tmp_path / "tasks.yaml")
    samples = task.samples()
    assert [(s.id, s.question, s.answer) for s in samples] == [("slake_vqa_0", "Where?", "Lung")]
    assert samples[0].image.path.endswith("imgs/xmlab1/source.jpg")


def test_mimic_generation_uses_our_instruction_and_needs_physionet_credentials(monkeypatch):
    task = PUBLISHED_TASKS["mimic_cxr_report_generation"]
    row = {
        "image": "https://physionet.org/files/mimic-cxr-jpg/2.0.0/files/p10/x.jpg",
        "report": "No acute process.",
    }
    s = task.sample_from_row(row, 0)
    assert (s.question, s.answer, s.grading) == (MIMIC_GENERATION_INSTRUCTION, "No acute process.", "scale5")
    assert s.image.url == row["image"] and s.image.credentials_env == ("PHYSIONET_UNAME", "PHYSIONET_PWD")
    monkeypatch.delenv("PHYSIONET_UNAME", raising=False)
    with pytest.raises(TaskConfigError, match="PHYSIONET_UNAME"):
        s.image.read_bytes()


def test_mmmu_medical_parses_option_text_and_letter_answers():
    task = EXTRA_TASKS["mmmu_medical"]
    row = {
        "question": "Which? <image 1>",
        "options": "['Liver', 'Spleen']",
        "answer": "B",
        "image_1": {"bytes": _png(), "path": None},
    }
    from medix_r1.evaluation.registry import _mmmu_prepare

    s = task.sample_from_row(_mmmu_prepare(row), 0)
    assert s.question == "Which? <image 1>\n\nChoices:\nA. Liver\nB. Spleen" and s.answer == "Spleen"
    assert s.image is not None and task.expected_size == 150


def test_published_yaml_layout_loads_unchanged(tmp_path):
    # The published file's shape: groups llm / vlm, `name`, empty question_column, yes/no as YAML booleans.
    (tmp_path / "tasks.yaml").write_text(
        """\
llm:
  medqa:
    path: GBaker/MedQA-USMLE-4-options-hf
    split: test
    question_column: sent1
    answer_id: label
    choices_column:
      - ending0
      - ending1
      - ending2
      - ending3
  pubmedqa:
    path: sahalshajim/medix-eval-sets
    name: pubmedqa
    split: test
    question_column:
      - CONTEXTS
      - QUESTION
    answer:
      - final_decision
      - LONG_ANSWER
    choices:
      - yes
      - no
      - maybe
  mimic_cxr_report_summarization:
    path: sahalshajim/medix-eval-sets
    name: mimic_cxr
    split: test
    question_column:
    answer_column: summary
    choices_column: []
vlm:
  slake_vqa:
    path: BoKelvin/SLAKE
    split: test
    question_column: question
    answer_column: answer
    choices_column: []
"""
    )
    tasks = {t.name: t for t in load_task_file(tmp_path / "tasks.yaml")}
    assert tasks["pubmedqa"].choices == [True, False, "maybe"] and tasks["pubmedqa"].subset == "pubmedqa"
    assert tasks["mimic_cxr_report_summarization"].grading == "scale5"  # the quirk comes with the name
    assert tasks["mimic_cxr_report_summarization"].quirk.text_only
    assert tasks["slake_vqa"].quirk.keep_if == (("q_lang", "en"),) and tasks["slake_vqa"].group == "vlm"
    assert tasks["medqa"].choices_column == ["ending0", "ending1", "ending2", "ending3"]


def test_local_hub_style_dataset_folder_loads_through_datasets(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "ds" / "data").mkdir(parents=True)
    pq.write_table(
        pa.table({"q": ["A?", "B?"], "a": ["1", "2"]}), tmp_path / "ds" / "data" / "test-00000.parquet"
    )
    (tmp_path / "t.yaml").write_text(
        f"llm:\n  local_hub:\n    path: {tmp_path / 'ds'}\n    question_column: q\n    answer_column: a\n"
    )
    (task,) = load_task_file(tmp_path / "t.yaml")
    assert [(s.id, s.question, s.answer) for s in task.samples()] == [
        ("local_hub_0", "A?", "1"),
        ("local_hub_1", "B?", "2"),
    ]


def test_unknown_task_names_suggest_the_closest():
    with pytest.raises(UnknownTaskError, match=r"unknown task 'pubmed_qa'; did you mean 'pubmedqa'"):
        resolve_tasks("medqa,pubmed_qa")


def test_unknown_yaml_field_suggests_the_closest(tmp_path):
    (tmp_path / "t.yaml").write_text(
        "llm:\n  x:\n    data_files: x.jsonl\n    question_colum: q\n    answer_column: a\n"
    )
    with pytest.raises(
        TaskConfigError,
        match="task x: unknown field 'question_colum'; did you mean 'question_column'\\?; accepted: ",
    ):
        load_task_file(tmp_path / "t.yaml")


def test_bad_grading_and_missing_reference_are_rejected(tmp_path):
    (tmp_path / "t.yaml").write_text(
        "llm:\n  x:\n    data_files: x.jsonl\n    answer_column: a\n    grading: scale10\n"
    )
    with pytest.raises(TaskConfigError, match="grading 'scale10'"):
        load_task_file(tmp_path / "t.yaml")
    (tmp_path / "t.yaml").write_text("llm:\n  x:\n    data_files: x.jsonl\n    question_column: q\n")
    with pytest.raises(TaskConfigError, match="answer_column, answer_id or answer"):
        load_task_file(tmp_path / "t.yaml")


def test_answer_id_out_of_range_names_the_row(tmp_path):
    task = PUBLISHED_TASKS["medqa"]
    with pytest.raises(TaskConfigError, match="medqa_3.*'label' = 9"):
        task.sample_from_row(
            {"sent1": "Q", "ending0": "a", "ending1": "b", "ending2": "c", "ending3": "d", "label": 9}, 3
        )


def test_groups_and_limit(tmp_path):
    assert [t.name for t in resolve_tasks("vlm")] == [
        "slake_vqa",
        "rad_vqa",
        "path_vqa",
        "pmc_vqa",
        "pmc_vqa_hard",
        "mimic_cxr_report_generation",
    ]
    assert len(resolve_tasks("llm")) == 11 and len(resolve_tasks(["medix17", "mmmu_medical"])) == 18


def test_content_hash_changes_with_the_data():
    task = PUBLISHED_TASKS["rad_vqa"]
    a = task.sample_from_row({"question": "Q?", "answer": "yes", "image": {"bytes": _png((1, 1, 1))}}, 0)
    b = task.sample_from_row({"question": "Q?", "answer": "yes", "image": {"bytes": _png((9, 9, 9))}}, 0)
    c = task.sample_from_row({"question": "Q?", "answer": "yes", "image": {"bytes": _png((1, 1, 1))}}, 0)
    assert a.hash != b.hash and a.hash == c.hash


def test_mini_suite_from_the_bundled_samples_layout(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(_png())
    records = [
        {
            "id": "a",
            "image": ["images/a.png"],
            "source": "s",
            "problem": "<image>\nWhich modality?",
            "solution": "<CT_SCAN> CT.",
        },
        {
            "id": "b",
            "image": ["images/a.png"],
            "source": "s",
            "problem": "<image>\nWhich organ?",
            "solution": "<X_RAY> Chest",
        },
        {
            "id": "c",
            "image": ["images/a.png"],
            "source": "s",
            "problem": "<image>\nPlane?",
            "solution": "<CT_SCAN> Axial",
        },
    ]
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    tasks = mini_suite(tmp_path)
    assert [t.name for t in tasks] == ["mini_ct_scan", "mini_x_ray"]
    samples = tasks[0].samples()
    assert [(s.id, s.question, s.answer) for s in samples] == [
        ("mini_ct_scan_0", "Which modality?", "CT"),
        ("mini_ct_scan_1", "Plane?", "Axial"),
    ]
    assert Path(samples[0].image.path) == tmp_path.resolve() / "images" / "a.png"
