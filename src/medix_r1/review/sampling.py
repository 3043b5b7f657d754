"""Sample review studies from evaluation run folders (``OUT/<model>/``, see ``evaluation.files``).

Pairwise (:func:`sample_pairwise`): items that both runs answered, with the same content hash (same
question, reference and image). ``n`` items are spread evenly over the tasks (round-robin, so a
small task is not crowded out), then put in a random review order. The side order is random and
balanced: half of the items (rounded up) show model A as "Answer 1", the rest model B, shuffled.

Judge audit (:func:`sample_judge_audit`): judged answers of one run, stratified over the judge's
verdict (:func:`judge_label`): ``n`` is split evenly over the verdicts present, so the few answers
the judge failed are audited as closely as the many it passed. Samples the judge could not grade
(``judge_failed``) have no verdict and are left out.

Everything random comes from one ``random.Random(seed)``: the same runs and seed give the same
study (items, order and sides); the seed is recorded in the study settings.

Answers are read with the shared parser (:func:`medix_r1.parsing.parse_response`): the modality tag
and the final answer as the rewards see them. One display rule differs: a reply without an
``<answer>`` block shows the text after its reasoning (what the evaluation judge is shown), not the
whole reply, so hidden reasoning stays hidden.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medix_r1.errors import did_you_mean
from medix_r1.review.store import Draft, Item, StudyError

__all__ = [
    "RunData",
    "load_run",
    "answer_view",
    "judge_label",
    "sample_pairwise",
    "sample_judge_audit",
    "JUDGE_LABELS",
]

#: Judge verdicts as clinician labels. Binary tasks: 1 correct, 0 incorrect. 0-5 report tasks
#: (mean of three rounds / 5): >= 0.7 correct, <= 0.3 incorrect, partial in between.
JUDGE_LABELS: tuple[str, ...] = ("correct", "partial", "incorrect")
SCALE5_CORRECT_AT = 0.7
SCALE5_INCORRECT_AT = 0.3


@dataclass
class RunData:
    """One model's run folder: its generations and judgements by sample id."""

    model: str
    dir: Path
    generations: dict[str, dict[str, Any]]
    judgements: dict[str, dict[str, Any]]


def load_run(path: str | Path) -> RunData:
    """Read ``OUT/<m>/`` (or ``OUT`` holding exactly one model folder)."""
    from medix_r1.evaluation.files import read_rows

    p = Path(path)
    if not p.is_dir():
        raise StudyError(f"{p} is not a folder: give an evaluation run folder OUT/<model>")

    def is_run(d: Path) -> bool:
        return (d / f"{d.name}.jsonl").exists() or (d / f"{d.name}_eval.jsonl").exists()

    if not is_run(p):
        found = sorted(d for d in p.iterdir() if d.is_dir() and is_run(d))
        if len(found) != 1:
            raise StudyError(
                f"{p} is not a run folder (no {p.name}.jsonl) and holds {len(found)} model folders "
                f"({', '.join(d.name for d in found) or 'none'}): give one OUT/<model> folder"
            )
        p = found[0]
    gens = read_rows(p / f"{p.name}.jsonl", repair=False).rows
    evals = read_rows(p / f"{p.name}_eval.jsonl", repair=False).rows
    model = p.name
    for meta in ("scores.json", "run.json"):
        if (p / meta).exists():
            model = str(json.loads((p / meta).read_text(encoding="utf-8")).get("model") or model)
            break
    return RunData(model=model, dir=p.resolve(), generations=gens, judgements=evals)


def answer_view(response: str) -> dict[str, Any]:
    """What reviewers are shown of a reply, read with the shared parser.

    >>> v = answer_view("<CT_SCAN><thinking>Dense focus.</thinking><answer>Calcified granuloma.</answer>")
    >>> v["modality"], v["reasoning"], v["answer"], v["well_formed"]
    ('<CT_SCAN>', 'Dense focus.', 'Calcified granuloma', True)
    >>> answer_view("<think>hidden</think>Femur")["answer"]
    'Femur'
    """
    from medix_r1.parsing import parse_response, strip_reasoning

    p = parse_response(response)
    answer = p.answer if p.has_answer_block else strip_reasoning(response).strip().strip(".")
    return {
        "modality": p.modality,
        "modality_tag": p.modality_name,
        "reasoning": p.reasoning,
        "answer": answer,
        "answer_block": p.has_answer_block,
        "well_formed": p.well_formed,
        "raw": response,
    }


def judge_label(row: dict[str, Any]) -> str | None:
    """The judge's verdict on a judgement row as a clinician label; ``None`` when it could not grade.

    >>> judge_label({"evaluation": {"status": "ok", "score": 1, "grading": "binary"}})
    'correct'
    >>> [judge_label({"evaluation": {"status": "ok", "score": s, "grading": "scale5"}}) for s in (4.0, 2.5, 1.0)]
    ['correct', 'partial', 'incorrect']
    >>> judge_label({"evaluation": {"status": "judge_failed", "score": None}}) is None
    True
    """
    from medix_r1.evaluation.scoring import row_value

    value = row_value(row)
    if value is None:
        return None
    ev = row.get("evaluation") or {}
    grading = ev.get("grading") or row.get("grading") or "binary"
    if grading != "scale5":
        return "correct" if value >= 1.0 else "incorrect"
    if value >= SCALE5_CORRECT_AT:
        return "correct"
    if value <= SCALE5_INCORRECT_AT:
        return "incorrect"
    return "partial"


# -- shared helpers ---------------------------------------------------------------------------------
def _task(row: dict[str, Any]) -> str:
    from medix_r1.evaluation.scoring import task_of_id

    return str(row.get("task") or task_of_id(str(row["id"])))


def item_id(row: dict[str, Any]) -> str:
    """Stable item id: task, published sample id and content hash.

    >>> item_id({"id": "rad_vqa_3", "task": "rad_vqa", "hash": "ab12"})
    'rad_vqa:rad_vqa_3:ab12'
    """
    return f"{_task(row)}:{row['id']}:{row.get('hash') or ''}"


def _filter_tasks(rows: dict[str, dict[str, Any]], tasks: list[str] | None) -> dict[str, dict[str, Any]]:
    if not tasks:
        return rows
    present = sorted({_task(r) for r in rows.values()})
    for t in tasks:
        if t not in present:
            hint = did_you_mean(t, present, n=3, cutoff=0.5) or "."
            raise StudyError(
                f"task {t!r} is not in the runs{hint} Tasks present: {', '.join(present) or 'none'}"
            )
    wanted = set(tasks)
    return {k: r for k, r in rows.items() if _task(r) in wanted}


def _round_robin(groups: dict[str, list[str]], n: int | None, rng: random.Random) -> list[str]:
    """Take ``n`` ids spread evenly over the groups (each group shuffled first), then shuffle them."""
    queues = {}
    for g in sorted(groups):
        ids = sorted(groups[g])
        rng.shuffle(ids)
        queues[g] = ids
    total = sum(len(q) for q in queues.values())
    want = total if n is None else min(n, total)
    picked: list[str] = []
    while len(picked) < want:
        for g in sorted(queues):
            if queues[g] and len(picked) < want:
                picked.append(queues[g].pop())
    rng.shuffle(picked)
    return picked


_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"))


def _normalise_image(data: bytes, where: str) -> tuple[str, str, bytes]:
    """(sha256, mime, bytes): PNG / JPEG / GIF kept as they are, anything PIL reads turned into PNG."""
    mime = next((m for magic, m in _MAGIC if data.startswith(magic)), None)
    if mime is None:
        from PIL import Image, UnidentifiedImageError

        try:
            img = Image.open(io.BytesIO(data))
            buf = io.BytesIO()
            img.convert("RGB").save(buf, format="PNG")
        except UnidentifiedImageError:  # PIL's message names a BytesIO object, not the file: say it plainly
            raise StudyError(
                f"{where}: the image cannot be read (not PNG, JPEG, GIF or another format PIL opens)"
            ) from None
        except OSError as exc:
            raise StudyError(f"{where}: the image cannot be read ({exc})") from None
        data, mime = buf.getvalue(), "image/png"
    return hashlib.sha256(data).hexdigest(), mime, data


class _Images:
    """Image bytes for rows: the evaluation's image path, else the tasks given with ``images_from``."""

    def __init__(self, images_from: str | None, run_dirs: list[Path]) -> None:
        self.images_from = images_from
        self.run_dirs = run_dirs
        self._samples: dict[str, Any] | None = None
        self.store: dict[str, tuple[str, bytes]] = {}

    def _fallback(self) -> dict[str, Any]:
        if self._samples is None:
            self._samples = {}
            if self.images_from:
                from medix_r1.evaluation import load_samples, resolve_tasks

                for s in load_samples(resolve_tasks(self.images_from)):
                    self._samples[s.id] = s
        return self._samples

    def get(self, row: dict[str, Any]) -> str | None:
        """The sha of the row's image (stored once), ``None`` for text items."""
        desc = row.get("image")
        if not desc:
            return None
        data: bytes | None = None
        if isinstance(desc, str) and not desc.startswith("<") and "://" not in desc:
            candidates = [Path(desc)] + [d / desc for d in self.run_dirs]
            path = next((c for c in candidates if c.is_file()), None)
            if path is not None:
                data = path.read_bytes()
        if data is None:
            sample = self._fallback().get(str(row["id"]))
            if sample is not None and sample.image is not None and sample.hash == row.get("hash"):
                data = sample.image.read_bytes()
        if data is None:
            raise StudyError(
                f"sample {row['id']}: its image {desc!r} cannot be found. Images held in memory by a task "
                "loader (parquet or hub rows) are not in the run folder: pass --images-from with the "
                "--tasks value the evaluation used, so they can be loaded again"
            )
        sha, mime, data = _normalise_image(data, f"sample {row['id']} (image {desc!r})")
        self.store[sha] = (mime, data)
        return sha


def _new_seed(seed: int | None) -> int:
    return random.SystemRandom().randrange(2**31) if seed is None else int(seed)


# -- pairwise ---------------------------------------------------------------------------------------
def sample_pairwise(
    run_a: str | Path,
    run_b: str | Path,
    *,
    tasks: list[str] | None = None,
    n: int | None = None,
    seed: int | None = None,
    show_reasoning: bool = False,
    show_reference: bool = True,
    images_from: str | None = None,
) -> Draft:
    """A pairwise study of two runs (see the module docstring)."""
    a, b = load_run(run_a), load_run(run_b)
    if a.dir == b.dir:
        raise StudyError(f"both runs are {a.dir}: give two different run folders")
    if n is not None and n < 1:
        raise StudyError(f"--n {n}: give at least 1 item")
    seed = _new_seed(seed)
    rng = random.Random(seed)
    rows_a = _filter_tasks({**a.judgements, **a.generations}, tasks)
    rows_b = {**b.judgements, **b.generations}
    notes: list[str] = []
    common, changed = [], []
    for sid, ra in rows_a.items():
        rb = rows_b.get(sid)
        if rb is None:
            continue
        (common if ra.get("hash") == rb.get("hash") else changed).append(sid)
    if changed:
        notes.append(f"{len(changed)} sample(s) differ in content between the runs and are left out")
    only_a = len(rows_a) - len(common) - len(changed)
    if only_a:
        notes.append(f"{only_a} sample(s) only {a.model} answered are left out")
    groups: dict[str, list[str]] = {}
    for sid in common:
        groups.setdefault(_task(rows_a[sid]), []).append(sid)
    picked = _round_robin(groups, n, rng)
    sides = [["A", "B"]] * ((len(picked) + 1) // 2) + [["B", "A"]] * (len(picked) // 2)
    rng.shuffle(sides)
    images = _Images(images_from, [a.dir, b.dir])
    items = []
    for pos, (sid, order) in enumerate(zip(picked, sides, strict=True)):
        ra, rb = rows_a[sid], rows_b[sid]
        items.append(
            Item(
                item_id=item_id(ra),
                position=pos,
                task=_task(ra),
                sample_id=sid,
                content_hash=str(ra.get("hash") or ""),
                question=str(ra.get("question") or ""),
                reference=str(ra.get("answer") or ""),
                image_sha=images.get(ra),
                order=list(order),
                answers={
                    "A": answer_view(str(ra.get("response") or "")),
                    "B": answer_view(str(rb.get("response") or "")),
                },
            )
        )
    if not items:
        notes.append(f"the runs share no answered sample{' in the chosen tasks' if tasks else ''}")
    return Draft(
        kind="pairwise",
        settings={
            "seed": seed,
            "n": n,
            "tasks": tasks,
            "show_reasoning": show_reasoning,
            "show_reference": show_reference,
            "sampling": "round-robin over tasks, random order, balanced random sides",
            "available": len(common),
        },
        sources={"A": {"model": a.model, "dir": str(a.dir)}, "B": {"model": b.model, "dir": str(b.dir)}},
        items=items,
        images=images.store,
        notes=notes,
    )


# -- judge audit ------------------------------------------------------------------------------------
def sample_judge_audit(
    run: str | Path,
    *,
    tasks: list[str] | None = None,
    n: int | None = None,
    seed: int | None = None,
    show_reasoning: bool = False,
    show_reference: bool = True,
    images_from: str | None = None,
) -> Draft:
    """A judge audit of one run (see the module docstring)."""
    r = load_run(run)
    if not r.judgements:
        raise StudyError(f"{r.dir} has no judgements ({r.dir.name}_eval.jsonl): run the judge phase first")
    if n is not None and n < 1:
        raise StudyError(f"--n {n}: give at least 1 item")
    seed = _new_seed(seed)
    rng = random.Random(seed)
    rows = _filter_tasks(r.judgements, tasks)
    strata: dict[str, list[str]] = {}
    failed = 0
    for sid, row in rows.items():
        label = judge_label(row)
        if label is None:
            failed += 1
        else:
            strata.setdefault(label, []).append(sid)
    notes = [f"{failed} sample(s) the judge could not grade are left out"] if failed else []
    picked = _round_robin(strata, n, rng)
    images = _Images(images_from, [r.dir])
    items = []
    for pos, sid in enumerate(picked):
        row = rows[sid]
        ev = row.get("evaluation") or {}
        items.append(
            Item(
                item_id=item_id(row),
                position=pos,
                task=_task(row),
                sample_id=sid,
                content_hash=str(row.get("hash") or ""),
                question=str(row.get("question") or ""),
                reference=str(row.get("answer") or ""),
                image_sha=images.get(row),
                order=["X"],
                answers={"X": answer_view(str(row.get("response") or ""))},
                judge={
                    "label": judge_label(row),
                    "score": ev.get("score"),
                    "grading": ev.get("grading") or row.get("grading") or "binary",
                    "rounds": ev.get("rounds"),
                    "model": row.get("judge_model"),
                },
            )
        )
    if not items:
        notes.append("no judged sample to audit" + (" in the chosen tasks" if tasks else ""))
    return Draft(
        kind="judge_audit",
        settings={
            "seed": seed,
            "n": n,
            "tasks": tasks,
            "show_reasoning": show_reasoning,
            "show_reference": show_reference,
            "sampling": "stratified over the judge's verdicts (equal shares), random order",
            "strata_population": {k: len(v) for k, v in sorted(strata.items())},
        },
        sources={
            "X": {"model": r.model, "dir": str(r.dir)},
            "judge_models": sorted(
                {str(x.get("judge_model")) for x in rows.values() if x.get("judge_model")}
            ),
        },
        items=items,
        images=images.store,
        notes=notes,
    )
