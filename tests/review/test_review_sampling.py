"""Study sampling from two mini-suite runs: which items, in which order, on which side, reproducibly."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from medix_r1.review import ReviewStore, StudyError, sample_judge_audit, sample_pairwise
from medix_r1.review.app import item_for_reviewer


def _items(draft):
    return [(it.item_id, it.position, tuple(it.order)) for it in draft.items]


def test_pairwise_same_seed_same_study_other_seed_other_study(runs):
    a = sample_pairwise(runs["good"], runs["weak"], n=14, seed=7)
    again = sample_pairwise(runs["good"], runs["weak"], n=14, seed=7)
    other = sample_pairwise(runs["good"], runs["weak"], n=14, seed=8)
    assert _items(a) == _items(again)
    assert _items(a) != _items(other)
    assert a.settings["seed"] == 7 and a.settings["available"] == 21


def test_pairwise_spreads_items_over_tasks_and_balances_sides(runs):
    d = sample_pairwise(runs["good"], runs["weak"], n=14, seed=1)
    assert len(d.items) == 14
    # 7 tasks, 14 items: round-robin gives exactly 2 per task
    assert set(Counter(it.task for it in d.items).values()) == {2}
    # balanced sides: 7 items show A first, 7 show B first
    assert Counter(tuple(it.order) for it in d.items) == {("A", "B"): 7, ("B", "A"): 7}
    # the review order mixes tasks (not task by task)
    tasks = [it.task for it in d.items]
    assert tasks != sorted(tasks)
    # ids are task : published sample id : content hash, and unique
    for it in d.items:
        task, sid, digest = it.item_id.split(":")
        assert task == it.task and sid == it.sample_id and digest == it.content_hash and len(digest) == 16
    assert len({it.item_id for it in d.items}) == 14
    # an odd count gives the extra item to A-first
    odd = sample_pairwise(runs["good"], runs["weak"], n=5, seed=1)
    assert Counter(tuple(it.order) for it in odd.items) == {("A", "B"): 3, ("B", "A"): 2}


def test_pairwise_takes_only_items_both_runs_answered_with_the_same_content(runs):
    weak_gen = runs["weak"] / "Weak_2B.jsonl"
    weak_eval = runs["weak"] / "Weak_2B_eval.jsonl"
    for path in (weak_gen, weak_eval):
        rows = [json.loads(x) for x in path.read_text().splitlines()]
        rows = [r for r in rows if r["id"] != "mini_x_ray_0"]  # B never answered it
        for r in rows:
            if r["id"] == "mini_x_ray_1":
                r["hash"] = "0" * 16  # B saw different content
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    d = sample_pairwise(runs["good"], runs["weak"], seed=0)
    ids = {it.sample_id for it in d.items}
    assert len(ids) == 19 and "mini_x_ray_0" not in ids and "mini_x_ray_1" not in ids
    assert "1 sample(s) differ in content between the runs and are left out" in d.notes
    assert "1 sample(s) only org/Good-7B answered are left out" in d.notes


def test_answers_are_read_with_the_parser_and_reviewers_see_no_model(runs):
    d = sample_pairwise(runs["good"], runs["weak"], n=4, seed=2, tasks=["mini_ct_scan", "mini_x_ray"])
    assert {it.task for it in d.items} == {"mini_ct_scan", "mini_x_ray"}
    it = d.items[0]
    for slot in "AB":
        view = it.answers[slot]
        assert view["modality"] == f"<{it.task.removeprefix('mini_').upper()}>"
        assert view["answer_block"] and view["well_formed"]
        assert not view["answer"].endswith(".")  # the parser strips trailing dots
        assert view["reasoning"].startswith("Reading the image")
    assert it.answers["A"]["answer"] == it.reference  # Good-7B repeats the reference

    class _Store:  # just what item_for_reviewer reads
        study = type("S", (), {"settings": d.settings})

    shown = item_for_reviewer(_Store, it)
    text = json.dumps(shown)
    assert (
        "Good" not in text and "Weak" not in text and "good reader" not in text and "weak reader" not in text
    )
    assert [a["label"] for a in shown["answers"]] == ["Answer 1", "Answer 2"]
    first = it.answers[it.order[0]]
    assert (
        shown["answers"][0]["answer"] == first["answer"]
        and shown["answers"][0]["modality"] == first["modality"]
    )
    assert "reasoning" not in shown["answers"][0]  # hidden by default
    d.settings["show_reasoning"] = True
    assert item_for_reviewer(_Store, it)["answers"][0]["reasoning"] == first["reasoning"]
    d.settings["show_reference"] = False
    assert item_for_reviewer(_Store, it)["reference"] is None


def test_unknown_task_and_bad_inputs_say_what_to_do(runs, tmp_path):
    with pytest.raises(StudyError, match=r"'mini_xray' is not in the runs; did you mean 'mini_x_ray' or "):
        sample_pairwise(runs["good"], runs["weak"], tasks=["mini_xray"])
    with pytest.raises(StudyError, match="give two different run folders"):
        sample_pairwise(runs["good"], runs["good"])
    with pytest.raises(StudyError, match="is not a run folder"):
        sample_pairwise(tmp_path, runs["weak"])
    d = sample_pairwise(runs["good"], runs["weak"], n=2, seed=0)
    ReviewStore.create(tmp_path / "s.db", d)
    with pytest.raises(StudyError, match="already exists"):
        ReviewStore.create(tmp_path / "s.db", d)


def test_images_are_stored_once_and_reloaded_from_the_tasks_when_not_files(runs, mini_runs, tmp_path):
    d = sample_pairwise(runs["good"], runs["weak"], seed=0)
    assert all(it.image_sha for it in d.items)
    assert len(d.images) == len({it.image_sha for it in d.items}) < len(d.items)  # shared images once
    assert all(mime == "image/png" and data.startswith(b"\x89PNG") for mime, data in d.images.values())
    # an in-memory image (parquet / hub row) is described, not stored as a file
    for run in runs.values():
        path = run / f"{run.name}.jsonl"
        rows = [json.loads(x) for x in path.read_text().splitlines()]
        for r in rows:
            r["image"] = "<bytes sha 123>"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(StudyError, match="pass --images-from"):
        sample_pairwise(runs["good"], runs["weak"], seed=0)
    samples = mini_runs["good"].parent.parent / "samples"
    again = sample_pairwise(runs["good"], runs["weak"], seed=0, images_from=f"mini:{samples}")
    assert [it.image_sha for it in again.items] == [it.image_sha for it in d.items]


def test_judge_audit_is_stratified_over_the_judges_verdicts(runs):
    d = sample_judge_audit(runs["weak"], n=8, seed=4)
    labels = Counter(it.judge["label"] for it in d.items)
    assert labels == {"correct": 4, "incorrect": 4}  # the run has 7 correct and 14 incorrect
    assert d.settings["strata_population"] == {"correct": 7, "incorrect": 14}
    assert all(it.order == ["X"] and it.judge["model"] == "fake-judge" for it in d.items)
    assert _items(d) == _items(sample_judge_audit(runs["weak"], n=8, seed=4))
    # samples the judge could not grade have no verdict and are left out
    path = runs["weak"] / "Weak_2B_eval.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    rows[0]["evaluation"] = {"status": "judge_failed", "score": None, "grading": "binary"}
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    d = sample_judge_audit(runs["weak"], seed=4)
    assert len(d.items) == 20 and rows[0]["id"] not in {it.sample_id for it in d.items}
    assert d.notes == ["1 sample(s) the judge could not grade are left out"]
