"""The task registry: the 17 published tasks, MMMU-Medical, user task files and the offline mini-suite.

``resolve_tasks`` turns what a user types after ``--tasks`` into task specs:

- ``medix17`` (or ``all``): the 17 published tasks; ``llm`` / ``vlm``: the text or image half;
- ``mmmu_medical``: the optional extra task (MMMU validation, five health subjects, 150 items);
- ``mini`` or ``mini:DIR``: the offline mini-suite built from a samples folder (``DIR/test.jsonl``);
- names separated by commas (or spaces), groups included;
- a path to a YAML file in the published ``tasks.yaml`` layout (``llm:`` and ``vlm:`` mapping task
  names to fields; another group name is an error); the published file loads unchanged.

Unknown names fail with the closest valid names (STYLE.md rule 6).

>>> [t.name for t in resolve_tasks("medqa,rad_vqa")]
['medqa', 'rad_vqa']
>>> len(resolve_tasks("medix17")), sum(t.group == "vlm" for t in resolve_tasks("medix17"))
(17, 6)
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from medix_r1.errors import did_you_mean
from medix_r1.evaluation.tasks import (
    Quirk,
    TaskConfigError,
    TaskSpec,
    parse_python_list,
    task_from_fields,
)
from medix_r1.models.cache import samples_cache_dir

__all__ = [
    "PUBLISHED_TASKS",
    "EXTRA_TASKS",
    "TASK_GROUPS",
    "YAML_GROUPS",
    "resolve_tasks",
    "load_task_file",
    "mini_suite",
    "UnknownTaskError",
    "MIMIC_GENERATION_INSTRUCTION",
    "MIMIC_SUMMARY_INSTRUCTION",
]


class UnknownTaskError(TaskConfigError):
    pass


# The fixed task instructions of the two MIMIC tasks, as the published loader sends them (part of
# the benchmark's definition, reproduced exactly, trailing ":" after the report included).
MIMIC_GENERATION_INSTRUCTION = "Generate a detailed report based on the scan."
MIMIC_SUMMARY_INSTRUCTION = "Write a short summary of the following report.\n\nReport:\n{report}:"

_PHYSIONET = ("PHYSIONET_UNAME", "PHYSIONET_PWD")
_EVAL_SETS = "sahalshajim/medix-eval-sets"


def _mmlu(subject: str, size: int) -> TaskSpec:
    return TaskSpec(
        name=f"mmlu_{subject}",
        group="llm",
        path="hails/mmlu_no_train",
        subset=subject,
        split="test",
        question_column="question",
        answer_id="answer",
        choices_column="choices",
        expected_size=size,
        description=f"MMLU {subject.replace('_', ' ')} (multiple choice, reference = option text)",
    )


def _mmmu_prepare(row: dict[str, Any]) -> dict[str, Any]:
    """MMMU rows: options are the text of a Python list and the answer a letter; the first of up to
    seven image columns is the image."""
    row = dict(row)
    row["options"] = parse_python_list(row.get("options"))
    answer = str(row.get("answer", "")).strip()
    if row["options"] and len(answer) == 1 and answer.isalpha():
        row["answer"] = row["options"][ord(answer.upper()) - ord("A")]
    row["image"] = next((row[f"image_{i}"] for i in range(1, 8) if row.get(f"image_{i}") is not None), None)
    return row


_TASKS: list[TaskSpec] = [
    _mmlu("clinical_knowledge", 265),
    _mmlu("college_biology", 144),
    _mmlu("college_medicine", 173),
    _mmlu("medical_genetics", 100),
    _mmlu("professional_medicine", 272),
    _mmlu("anatomy", 135),
    TaskSpec(
        name="medmcqa",
        path="openlifescienceai/medmcqa",
        split="validation",
        question_column="question",
        answer_id="cop",
        choices_column=["opa", "opb", "opc", "opd"],
        expected_size=4183,
        description="MedMCQA validation (Indian medical entrance exams)",
    ),
    TaskSpec(
        name="medqa",
        path="GBaker/MedQA-USMLE-4-options-hf",
        split="test",
        question_column="sent1",
        answer_id="label",
        choices_column=["ending0", "ending1", "ending2", "ending3"],
        expected_size=1273,
        description="MedQA USMLE, four options",
    ),
    TaskSpec(
        name="usmle_sa",
        path="HuggingSara/usmle_self_assessment",
        split="train",
        question_column="question",
        answer_column="answer",
        choices_column="options",
        description="USMLE self-assessment (options as a dict or list; reference = answer text)",
    ),
    TaskSpec(
        name="pubmedqa",
        path=_EVAL_SETS,
        subset="pubmedqa",
        split="test",
        question_column=["CONTEXTS", "QUESTION"],
        answer=["final_decision", "LONG_ANSWER"],
        # As YAML reads the published tasks.yaml: unquoted yes / no are booleans, sent as True / False.
        choices=[True, False, "maybe"],
        expected_size=500,
        description="PubMedQA: contexts and question under headings; reference = decision + long answer",
    ),
    TaskSpec(
        name="mimic_cxr_report_summarization",
        path=_EVAL_SETS,
        subset="mimic_cxr",
        split="test",
        answer_column="summary",
        grading="scale5",
        quirk=Quirk(instruction=MIMIC_SUMMARY_INSTRUCTION, text_only=True),
        description="MIMIC-CXR: summarise a report (graded 0-5)",
    ),
    TaskSpec(
        name="slake_vqa",
        group="vlm",
        path="BoKelvin/SLAKE",
        split="test",
        question_column="question",
        answer_column="answer",
        image_column="img_name",
        quirk=Quirk(
            keep_if=(("q_lang", "en"),),
            image_archive=("BoKelvin/SLAKE", "imgs.zip"),
            published_image_dir="tmp/slake/imgs",
        ),
        expected_size=1061,
        description="SLAKE, English questions only; images from the dataset's imgs.zip",
    ),
    TaskSpec(
        name="rad_vqa",
        group="vlm",
        path="flaviagiammarino/vqa-rad",
        split="test",
        question_column="question",
        answer_column="answer",
        expected_size=451,
        description="VQA-RAD",
    ),
    TaskSpec(
        name="path_vqa",
        group="vlm",
        path="flaviagiammarino/path-vqa",
        split="test",
        question_column="question",
        answer_column="answer",
        expected_size=6719,
        description="PathVQA",
    ),
    TaskSpec(
        name="pmc_vqa",
        group="vlm",
        path=_EVAL_SETS,
        subset="pmc_vqa",
        split="test",
        question_column="question",
        answer_column="answer",
        choices_column="choices",
        description="PMC-VQA with options",
    ),
    TaskSpec(
        name="pmc_vqa_hard",
        group="vlm",
        path=_EVAL_SETS,
        subset="pmc_vqa_hard",
        split="test",
        question_column="question",
        answer_column="answer",
        description="PMC-VQA without options",
    ),
    TaskSpec(
        name="mimic_cxr_report_generation",
        group="vlm",
        path=_EVAL_SETS,
        subset="mimic_cxr",
        split="test",
        answer_column="report",
        grading="scale5",
        quirk=Quirk(
            instruction=MIMIC_GENERATION_INSTRUCTION,
            credentials_env=_PHYSIONET,
            published_image_dir="tmp/mimic",
            image_by_basename=True,
        ),
        description="MIMIC-CXR: write the report of a scan (graded 0-5; images need PhysioNet credentials "
        "in PHYSIONET_UNAME / PHYSIONET_PWD)",
    ),
]

#: The 17 published tasks, in the published order.
PUBLISHED_TASKS: dict[str, TaskSpec] = {t.name: t for t in _TASKS}

#: Optional tasks outside the 17 (not part of ``medix17`` or the overall score).
EXTRA_TASKS: dict[str, TaskSpec] = {
    "mmmu_medical": TaskSpec(
        name="mmmu_medical",
        group="extra",
        path="MMMU/MMMU",
        subset=[
            "Basic_Medical_Science",
            "Clinical_Medicine",
            "Diagnostics_and_Laboratory_Medicine",
            "Pharmacy",
            "Public_Health",
        ],
        split="validation",
        question_column="question",
        answer_column="answer",
        choices_column="options",
        quirk=Quirk(prepare=_mmmu_prepare),
        expected_size=150,
        description="MMMU validation, five health subjects (reported separately, as published)",
    ),
}

TASK_GROUPS: dict[str, list[str]] = {
    "medix17": list(PUBLISHED_TASKS),
    "all": list(PUBLISHED_TASKS),
    "llm": [n for n, t in PUBLISHED_TASKS.items() if t.group == "llm"],
    "vlm": [n for n, t in PUBLISHED_TASKS.items() if t.group == "vlm"],
}


def _known(name: str) -> TaskSpec | None:
    return PUBLISHED_TASKS.get(name) or EXTRA_TASKS.get(name)


def _unknown(name: str, valid: list[str]) -> UnknownTaskError:
    hint = did_you_mean(name, valid, n=3, cutoff=0.5) or "."
    return UnknownTaskError(f"unknown task {name!r}{hint} Valid: {', '.join(valid)}")


def _yaml_load(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise TaskConfigError(f"{path}: not valid YAML ({exc})") from None


#: The top-level groups a task file may use (a misspelt one is an error, never a new group).
YAML_GROUPS: dict[str, str] = {
    "llm": "text tasks",
    "vlm": "image tasks",
    "extra": "tasks reported apart from the overall score",
}


def _closest_group(group: str) -> str:
    """``did you mean`` for a group name; a tie (``lml`` is as close to ``llm`` as to ``vlm``) goes to
    the group with the same first letter."""
    same_start = [g for g in YAML_GROUPS if g[:1] == group[:1].lower()]
    return did_you_mean(group, same_start) or did_you_mean(group, list(YAML_GROUPS))


def load_task_file(path: str | Path) -> list[TaskSpec]:
    """Tasks of a YAML file in the published layout: top-level groups (:data:`YAML_GROUPS`: ``llm``,
    ``vlm``, ``extra``) mapping task names to fields. A published task name keeps its quirk and
    expected size."""
    path = Path(path)
    data = _yaml_load(path)
    if not isinstance(data, dict) or not data:
        raise TaskConfigError(
            f"{path}: expected top-level groups such as `llm:` and `vlm:` mapping task names to fields"
        )
    tasks: list[TaskSpec] = []
    seen: set[str] = set()
    for group, entries in data.items():
        if group not in YAML_GROUPS:
            raise TaskConfigError(
                f"{path}: unknown group {group!r}{_closest_group(str(group))}; "
                + "groups: "
                + ", ".join(f"{k} ({v})" for k, v in YAML_GROUPS.items())
            )
        if not isinstance(entries, dict):
            raise TaskConfigError(f"{path}: group {group!r} must map task names to their fields")
        for name, fields in entries.items():
            name = str(name)
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_\-]*", name):
                raise TaskConfigError(f"{path}: task name {name!r} must be letters, digits, '_' or '-'")
            if name in seen:
                raise TaskConfigError(f"{path}: task {name!r} is defined twice")
            if fields is not None and not isinstance(fields, dict):
                raise TaskConfigError(f"{path}: task {name!r} must map field names to values")
            seen.add(name)
            known = _known(name)
            tasks.append(
                task_from_fields(
                    name,
                    fields,
                    group=str(group) if known is None else known.group,
                    base_dir=path.parent.resolve(),
                    defaults=known,
                )
            )
    return tasks


def mini_suite(samples_dir: str | Path) -> list[TaskSpec]:
    """The offline mini-suite: the bundled samples' ``test.jsonl`` (records ``id``, ``image``,
    ``source``, ``problem``, ``solution``), one image task per modality tag, free-text binary grading.

    The question is the problem without its ``<image>`` placeholder; the reference is the solution's
    answer (the text after the modality tag).
    """
    from medix_r1.parsing import split_solution

    samples_dir = Path(samples_dir)
    test = samples_dir / "test.jsonl"
    if not test.exists():
        raise TaskConfigError(
            f"{test} does not exist: build the samples first with `medix-r1 data build-samples {samples_dir}`"
        )
    tags: list[str] = []
    with open(test, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                tag = split_solution(str(json.loads(line).get("solution", "")))[0]
                if tag not in tags:
                    tags.append(tag)
    tasks = []
    for tag in tags:
        slug = re.sub(r"[^a-z0-9]+", "_", tag.lower()).strip("_") or "other"
        tasks.append(
            TaskSpec(
                name=f"mini_{slug}",
                group="vlm",
                data_files=[str(test.resolve())],
                question_column="problem",
                answer_column="solution",
                base_dir=str(samples_dir.resolve()),
                quirk=Quirk(prepare=_mini_prepare, keep_if=(("_tag", tag),)),
                description=f"mini-suite: bundled sample images, {tag} questions",
            )
        )
    return tasks


def _mini_prepare(row: dict[str, Any]) -> dict[str, Any]:
    from medix_r1.parsing import split_solution

    row = dict(row)
    row["_tag"] = split_solution(str(row.get("solution", "")))[0]
    row["problem"] = str(row.get("problem", "")).replace("<image>", "").strip()
    _, answer = split_solution(str(row.get("solution", "")))
    row["solution"] = answer if answer else str(row.get("solution", "")).strip()
    images = row.get("image") or []
    row["image"] = images[0] if isinstance(images, list) and images else (images or None)
    return row


def resolve_tasks(spec: str | list[str]) -> list[TaskSpec]:
    """Task specs for a ``--tasks`` value (see the module docstring)."""
    items = spec if isinstance(spec, list) else [spec]
    tokens = [tok for item in items for tok in re.split(r"[,\s]+", str(item).strip()) if tok]
    if not tokens:
        raise UnknownTaskError("no task given; try medix17, llm, vlm, mini, a task name or a YAML file")
    out: list[TaskSpec] = []
    for tok in tokens:
        if tok.endswith((".yaml", ".yml")) or Path(tok).is_file():
            out += load_task_file(tok)
        elif tok == "mini" or tok.startswith("mini:"):
            directory = tok.split(":", 1)[1] if ":" in tok else None
            out += mini_suite(directory or _ensure_default_samples())
        elif tok in TASK_GROUPS:
            out += [PUBLISHED_TASKS[n] for n in TASK_GROUPS[tok]]
        elif _known(tok) is not None:
            out.append(_known(tok))  # type: ignore[arg-type]
        else:
            valid = list(TASK_GROUPS) + ["mini"] + list(PUBLISHED_TASKS) + list(EXTRA_TASKS)
            raise _unknown(tok, valid)
    unique: dict[str, TaskSpec] = {}
    for t in out:
        unique.setdefault(t.name, t)
    return list(unique.values())


def _ensure_default_samples() -> Path:
    directory = samples_cache_dir()
    if not (directory / "test.jsonl").exists():
        from medix_r1.data import ensure_samples

        ensure_samples(directory)
    return directory
