"""A small local suite in the published ``tasks.yaml`` layout, one row per quirk, and one mock model
that plays both the candidate and the judge (issue 14).

Used by ``test_eval_parity.py`` (our harness, exact task scores) and by ``compare_published.py`` (our
harness and the published one on the same suite and the same mock, compared request by request).
Loaded by file path (pytest runs in importlib mode, so test helpers are not importable modules).

The suite is written as the published harness reads data: each task is a local dataset folder
loaded by ``datasets.load_dataset(path, name=...)`` (parquet files with a ``README.md`` naming the
configs), image columns are ``datasets.Image`` features, SLAKE's images are files named by
``img_name`` under ``tmp/slake/imgs`` and MIMIC's are URLs whose file names are under ``tmp/mimic``
(the published harness's folders, relative to the working directory).

The mock's replies depend only on what a request shows (question, reference, candidate, image bytes,
round), never on the harness that sent it, so the two harnesses must agree wherever they send the
same thing.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

CANDIDATE_MODEL = "cand/parity-model"
JUDGE_MODEL = "judge-model"

TASKS_YAML = """\
# MEDICAL LLM DATASETS
llm:
  mmlu_anatomy:
    path: ./data/mmlu
    name: anatomy
    split: test
    question_column: question
    answer_id: answer
    choices_column: choices

  medmcqa:
    path: ./data/medmcqa
    split: validation
    question_column: question
    answer_id: cop
    choices_column:
      - opa
      - opb
      - opc
      - opd

  usmle_sa:
    path: ./data/usmle
    split: train
    question_column: question
    answer_column: answer
    choices_column: options

  pubmedqa:
    path: ./data/evalsets
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
    path: ./data/evalsets
    name: mimic_cxr
    split: test
    question_column:
    answer_column: summary
    choices_column: []

  notes_mimic_style:
    path: ./data/notes
    split: test
    question_column: question
    answer_column: answer
    choices_column: []

# MEDICAL VLM DATASETS
vlm:
  slake_vqa:
    path: ./data/slake
    split: test
    question_column: question
    answer_column: answer
    choices_column: []

  rad_vqa:
    path: ./data/vqarad
    split: test
    question_column: question
    answer_column: answer
    choices_column: []

  pmc_vqa:
    path: ./data/evalsets
    name: pmc_vqa
    split: test
    question_column: question
    answer_column: answer
    choices_column: choices

  mimic_cxr_report_generation:
    path: ./data/evalsets
    name: mimic_cxr
    split: test
    question_column:
    answer_column: report
    choices_column: []
"""

_PHYSIONET = "https://physionet.org/files/mimic-cxr-jpg/2.1.0/files/"

MMLU = [
    {"question": "Which bone is the longest?", "choices": ["Femur", "Tibia", "Ulna", "Radius"], "answer": 0},
    {
        "question": "Which nerve supplies the diaphragm?",
        "choices": ["Vagus", "Phrenic", "Ulnar", "Median"],
        "answer": 1,
    },
    {"question": "How many chambers has the heart?  ", "choices": ["2", "3", "4", "5"], "answer": 2},
    {"question": "The smallest bone is the", "choices": ["stapes", "incus", "malleus", "femur"], "answer": 0},
]
MEDMCQA = [
    # trailing whitespace before Choices: stays (published strips only the whole text)
    {
        "question": "Drug of choice for absence seizures?\t ",
        "opa": "Ethosuximide",
        "opb": "Phenytoin",
        "opc": "Carbamazepine",
        "opd": "Phenobarbital",
        "cop": 0,
    },
    # a missing option keeps its letter but gets no line
    {"question": "Vitamin deficient in scurvy?", "opa": "A", "opb": None, "opc": "C", "opd": "D", "cop": 2},
    {
        "question": "  Leading space question?",
        "opa": "one",
        "opb": "two",
        "opc": "three",
        "opd": "four",
        "cop": 3,
    },
]
USMLE = [
    {
        "question": "A 30-year-old presents with fever. Next step?",
        "options": {"A": "Blood culture", "B": "Discharge", "C": "Surgery", "D": "MRI", "E": "Wait"},
        "answer": "Blood culture",
    },
    {
        "question": "Most common cause of community-acquired pneumonia?",
        "options": {"A": "S. aureus", "B": "S. pneumoniae", "C": "Klebsiella", "D": "Legionella", "E": None},
        "answer": "S. pneumoniae",
    },
    # no question text: the published text starts at Choices:
    {
        "question": None,
        "options": {"A": "Aspirin", "B": "Heparin", "C": "Warfarin", "D": "Alteplase", "E": "None"},
        "answer": "Alteplase",
    },
]
PUBMEDQA = [
    {
        "CONTEXTS": ["Statins were given to 200 patients.", "Second context not shown."],
        "QUESTION": "Do statins lower LDL?",
        "final_decision": "yes",
        "LONG_ANSWER": "Yes, by 30%.",
    },
    {
        "CONTEXTS": ["A trial of vitamin C."],
        "QUESTION": "Does vitamin C prevent colds?",
        "final_decision": "no",
        "LONG_ANSWER": "No effect was found.",
    },
    {
        "CONTEXTS": ["Mixed findings."],
        "QUESTION": "Is coffee harmful?",
        "final_decision": "maybe",
        "LONG_ANSWER": "The evidence is unclear.",
    },
]
MIMIC = [
    {
        "report": "FINDINGS: Lungs are clear. IMPRESSION: No acute process.",
        "summary": "Normal chest.",
        "image": _PHYSIONET + "p10/p10000032/s50414267/02aa804e.jpg",
    },
    {
        "report": "FINDINGS: Left lower lobe opacity. IMPRESSION: Pneumonia.",
        "summary": "Left lower lobe pneumonia.",
        "image": _PHYSIONET + "p10/p10000764/s57375967/096052b7.jpg",
    },
]
NOTES = [  # a user task whose name contains "mimic": graded 0-5, images looked up in tmp/mimic
    {
        "question": "Describe the heart size.",
        "answer": "Heart size is normal.",
        "image": _PHYSIONET + "p11/p11000011/s51029426/3b8d3a2f.jpg",
    },
    {
        "question": "Any effusion?",
        "answer": "Small right effusion.",
        "image": _PHYSIONET + "p11/p11000011/s51029426/3b8d3a2f.jpg",
    },
]
SLAKE = [
    {
        "img_name": "xmlab1/source.jpg",
        "question": "Which organ is abnormal?",
        "answer": "Liver",
        "q_lang": "en",
    },
    {"img_name": "xmlab1/source.jpg", "question": "哪个器官异常?", "answer": "肝脏", "q_lang": "zh"},
    # this file carries an EXIF orientation tag: the published harness opens it itself, not transposed
    {"img_name": "xmlab2/rotated.jpg", "question": "Is this an MRI?", "answer": "No", "q_lang": "en"},
]
VQARAD = [  # datasets Image feature: EXIF orientation applied on decode
    {"question": "Is there a fracture?", "answer": "yes", "image": "rotated"},
    {"question": "Is the heart enlarged?", "answer": "no", "image": "plain"},
    {"question": "What modality is this?", "answer": "x-ray", "image": "rgba"},
]
PMC = [
    {
        "question": "What does the arrow show? ",
        "choices": ["A cyst", "A stone", "A tumour", "Nothing"],
        "answer": "A stone",
        "image": "plain",
    },
    # an empty option list still shows the bare Choices: line
    {"question": "Which stain is used?", "choices": [], "answer": "H&E", "image": "rotated"},
]

EXPECTED_IDS = (
    [f"mmlu_anatomy_{i}" for i in range(len(MMLU))]
    + [f"medmcqa_{i}" for i in range(len(MEDMCQA))]
    + [f"usmle_sa_{i}" for i in range(len(USMLE))]
    + [f"pubmedqa_{i}" for i in range(len(PUBMEDQA))]
    + [f"mimic_cxr_report_summarization_{i}" for i in range(len(MIMIC))]
    + [f"notes_mimic_style_{i}" for i in range(len(NOTES))]
    + ["slake_vqa_0", "slake_vqa_1"]
    + [f"rad_vqa_{i}" for i in range(len(VQARAD))]
    + [f"pmc_vqa_{i}" for i in range(len(PMC))]
    + [f"mimic_cxr_report_generation_{i}" for i in range(len(MIMIC))]
)


def _jpeg(
    color: tuple[int, int, int], *, size: tuple[int, int] = (8, 4), orientation: int | None = None
) -> bytes:
    from PIL import Image

    image = Image.new("RGB", size, color)
    for x in range(size[0] // 2):  # an asymmetric mark, so a rotation changes the pixels
        image.putpixel((x, 0), (255, 255, 255))
    buf = io.BytesIO()
    if orientation is None:
        image.save(buf, format="JPEG", quality=95)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        image.save(buf, format="JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


def _png_rgba() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGBA", (5, 5), (10, 120, 200, 128)).save(buf, format="PNG")
    return buf.getvalue()


IMAGES = {
    "plain": lambda: _jpeg((120, 30, 30)),
    "rotated": lambda: _jpeg((30, 120, 30), orientation=6),
    "rgba": _png_rgba,
}


def _write(
    folder: Path, config: str | None, split: str, rows: list[dict[str, Any]], features: Any = None
) -> None:
    import datasets

    ds = datasets.Dataset.from_list(rows, features=features)
    sub = folder / (config or "default")
    sub.mkdir(parents=True, exist_ok=True)
    ds.to_parquet(str(sub / f"{split}.parquet"))


def _readme(folder: Path, configs: list[tuple[str, str]]) -> None:
    lines = ["---", "configs:"]
    for name, split in configs:
        lines += [
            f"- config_name: {name}",
            "  data_files:",
            f"  - split: {split}",
            f"    path: {name}/{split}.parquet",
        ]
    (folder / "README.md").write_text("\n".join(lines + ["---", ""]))


def build_suite(root: Path) -> Path:
    """Write the suite under ``root`` (data folders, ``tasks.yaml``, ``tmp/slake/imgs``, ``tmp/mimic``);
    returns the YAML path. Run both harnesses with ``root`` as the working directory."""
    import datasets

    root = Path(root)
    data = root / "data"
    plain = {
        "mmlu": [("anatomy", "test", MMLU)],
        "medmcqa": [("default", "validation", MEDMCQA)],
        "usmle": [("default", "train", USMLE)],
        "notes": [("default", "test", NOTES)],
    }
    for folder, configs in plain.items():
        for name, split, rows in configs:
            _write(data / folder, name, split, rows)
        _readme(data / folder, [(n, s) for n, s, _ in configs])
    _write(data / "evalsets", "pubmedqa", "test", PUBMEDQA)
    _write(data / "evalsets", "mimic_cxr", "test", MIMIC)
    image_features = datasets.Features(
        {
            "question": datasets.Value("string"),
            "choices": datasets.Sequence(datasets.Value("string")),
            "answer": datasets.Value("string"),
            "image": datasets.Image(),
        }
    )
    _write(
        data / "evalsets",
        "pmc_vqa",
        "test",
        [dict(r, image={"bytes": IMAGES[r["image"]](), "path": None}) for r in PMC],
        image_features,
    )
    _readme(data / "evalsets", [("pubmedqa", "test"), ("mimic_cxr", "test"), ("pmc_vqa", "test")])
    rad_features = datasets.Features(
        {"question": datasets.Value("string"), "answer": datasets.Value("string"), "image": datasets.Image()}
    )
    _write(
        data / "vqarad",
        "default",
        "test",
        [dict(r, image={"bytes": IMAGES[r["image"]](), "path": None}) for r in VQARAD],
        rad_features,
    )
    _readme(data / "vqarad", [("default", "test")])
    _write(data / "slake", "default", "test", SLAKE)
    _readme(data / "slake", [("default", "test")])

    imgs = root / "tmp" / "slake" / "imgs"
    (imgs / "xmlab1").mkdir(parents=True, exist_ok=True)
    (imgs / "xmlab2").mkdir(parents=True, exist_ok=True)
    (imgs / "xmlab1" / "source.jpg").write_bytes(_jpeg((200, 200, 40)))
    (imgs / "xmlab2" / "rotated.jpg").write_bytes(_jpeg((40, 40, 200), orientation=8))
    mimic = root / "tmp" / "mimic"
    mimic.mkdir(parents=True, exist_ok=True)
    for row in MIMIC + NOTES:
        name = row["image"].rsplit("/", 1)[-1]
        (mimic / name).write_bytes(_jpeg((90, 90, 90), orientation=3 if name.startswith("3b") else None))
    (root / "tasks.yaml").write_text(TASKS_YAML)
    return root / "tasks.yaml"


# --- the mock model ---------------------------------------------------------------------------------
def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")


def _image_sha(content: Any) -> str:
    if isinstance(content, str):
        return "none"
    urls = [p["image_url"]["url"] for p in content if isinstance(p, dict) and p.get("type") == "image_url"]
    return hashlib.sha256("".join(urls).encode()).hexdigest()[:8] if urls else "none"


def _h(*parts: str) -> int:
    return int(hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:8], 16)


def _known_answers() -> dict[str, str]:
    """Question text -> reference answer, so the mock candidate can be right on purpose."""
    out: dict[str, str] = {}
    for row in MMLU:
        out[row["question"].strip()] = row["choices"][row["answer"]]
    for row in MEDMCQA:
        out[row["question"].strip()] = row["op" + "abcd"[row["cop"]]]
    for row in USMLE + SLAKE + VQARAD + PMC + NOTES:
        out[(row["question"] or "").strip()] = row["answer"]
    for row in PUBMEDQA:
        out[row["QUESTION"]] = row["final_decision"]
    return out


def candidate_reply(messages: list[dict[str, Any]]) -> str:
    """The candidate: right for about two questions in three, decided by a hash of the text and the
    image bytes it was sent (so other pixels can change the verdict), as an option text, a letter or
    a sentence, wrapped in one of the reply shapes the reasoning cut must handle."""
    user = messages[-1]["content"]
    text, image = _text(user), _image_sha(user)
    seed = _h(text, image)
    options = re.findall(r"^([A-J])\. (.*)$", text, re.MULTILINE)
    head = text.split("\n\nChoices:")[0].strip()
    if "\nQuestion:\n" in text:  # the PubMedQA layout
        head = text.split("\nQuestion:\n", 1)[1].split("\n\n")[0]
    known = _known_answers().get(head)
    if known is not None and seed % 3 != 0:
        hit = [(letter, option) for letter, option in options if option == known]
        if hit:
            options = hit
        elif not options:
            return _wrap(known, seed, image)
    if options:
        letter, option = options[seed % len(options)]
        answer = [option, letter, f"{letter}. {option}"][(seed >> 3) % 3]
    elif "report" in text.lower() or "describe" in text.lower() or "effusion" in text.lower():
        answer = ["Normal chest.", "Left lower lobe pneumonia.", "Heart size is normal.", "Unremarkable."][
            seed % 4
        ]
    else:
        answer = ["yes", "no", "Liver", "x-ray", "A stone", "H&E"][seed % 6]
    return _wrap(answer, seed, image)


def _wrap(answer: str, seed: int, image: str) -> str:
    shape = (seed >> 5) % 4
    if shape == 0:
        return f"<think>Looking (image {image}).</think> {answer}"
    if shape == 1:  # a </think> then a <thinking> block: published keeps the <thinking> block
        return f"<think>First pass.</think><thinking>wrong: {answer[::-1]}</thinking> {answer}"
    if shape == 2:
        return f"<thinking>Reasoning about {image}.</thinking>\n{answer}\n"
    return f"  {answer}  "  # no tags: published passes it to the judge unstripped


_PUBLISHED_BINARY = re.compile(
    r"Question:\n(.*)\n\nCorrect Answer:\n(.*)\n\nPredicted Answer:\n(.*)\n\nScore 1 if", re.S
)
_PUBLISHED_MIMIC = re.compile(
    r"### Clinical Instruction or Question::\n(.*)\n\n### Reference Report or Summary:\n(.*)\n\n"
    r"### AI-Generated Report or Summary:\n(.*) /no_think$",
    re.S,
)
_OURS = re.compile(
    r"<(question|instruction)>\n(.*)\n</\1>\n\n<reference>\n(.*)\n</reference>\n\n<candidate>\n(.*)\n</candidate>",
    re.S,
)


def judge_view(messages: list[dict[str, Any]]) -> tuple[str, str, str, str]:
    """What a judge conversation shows: (grading, question, reference, candidate), read from the
    published prompts or ours."""
    first = _text(messages[0]["content"])
    m = _PUBLISHED_MIMIC.search(first)
    if m:
        return ("scale5", *m.groups())
    m = _PUBLISHED_BINARY.search(first)
    if m:
        return ("binary", *m.groups())
    m = _OURS.search(first)
    if m:
        return ("scale5" if m.group(1) == "instruction" else "binary", m.group(2), m.group(3), m.group(4))
    raise ValueError(f"not a judge prompt this mock knows: {first[:80]!r}")


def judge_reply(messages: list[dict[str, Any]]) -> str:
    """The judge: right / wrong by word overlap, one round in some conversations flipped (so the 2-of-3
    majority matters), 0-5 scores with half points, replies in several shapes the published parser
    reads."""
    grading, question, reference, candidate = judge_view(messages)
    k = sum(1 for m in messages if m["role"] == "assistant")
    seed = _h(question, reference, candidate)
    shape = (seed >> 7) % 3
    if grading == "scale5":
        value: Any = ((seed >> (k * 4)) % 11) / 2  # 0, 0.5, ..., 5
        value = int(value) if float(value).is_integer() and shape != 2 else value
    else:
        ref = reference.splitlines()[0].strip().lower().rstrip(".")
        cand = candidate.strip().lower()
        right = bool(ref) and ref in cand and "wrong:" not in cand
        letters = dict(re.findall(r"^([A-J])\. (.*)$", question, re.MULTILINE))
        if not right and letters:
            for letter, option in letters.items():
                if option.strip().lower() == ref and re.fullmatch(rf"\s*{letter}\.?\s*", candidate):
                    right = True
        value = int(right)
        if seed % 3 == 0 and k == 1:
            value = 1 - value  # one dissenting round
        if shape == 2:
            value = float(value)  # 1.0: still a "1" round for the published count
    if shape == 0:
        return f'```json\n{{\n"score": {json.dumps(value)}\n}}\n```'
    if shape == 1:
        return f'<think>Checking.</think>{{"score": {json.dumps(value)}}}'
    return f'<thinking>ok</thinking> Verdict: {{"score": {json.dumps(value)}}}'


def mock_reply(messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
    """Both roles on one server, told apart by the requested model name."""
    if body.get("model") == JUDGE_MODEL:
        return judge_reply(messages)
    return candidate_reply(messages)
