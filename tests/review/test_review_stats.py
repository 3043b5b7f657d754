"""Statistics on hand-made vote tables with known answers, and the reports built from them."""

from __future__ import annotations

import csv
import io
import json

import pytest

from medix_r1.review import ReviewStore, sample_judge_audit, sample_pairwise
from medix_r1.review.report import analyse, write_report
from medix_r1.review.stats import (
    bootstrap_shares,
    cohen_kappa,
    confusion_matrix,
    consensus,
    fleiss_kappa,
    pairwise_outcome,
)

# Fleiss (1971) as tabulated on Wikipedia: 10 items, 14 raters, 5 categories -> kappa 0.210
FLEISS_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_of_the_textbook_table():
    items = [[c for c, k in zip("abcde", row, strict=True) for _ in range(k)] for row in FLEISS_TABLE]
    k = fleiss_kappa(items)
    assert k.n == 10 and k.ratings == 140
    assert k.observed == pytest.approx(0.378022, abs=1e-6)
    assert k.expected == pytest.approx(0.212755, abs=1e-6)
    assert k.kappa == pytest.approx(0.209931, abs=1e-6)


@pytest.mark.parametrize(
    "a, b, kappa, observed",
    [
        # 2x2 table 20/5/10/15: po 0.7, pe 0.5 -> 0.4
        (["y"] * 25 + ["n"] * 25, ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15, 0.4, 0.7),
        # perfect agreement over two labels
        (["x", "y", "x"], ["x", "y", "x"], 1.0, 1.0),
        # systematic disagreement: po 0, pe 0.5 -> -1
        (["x", "y"], ["y", "x"], -1.0, 0.0),
        # three labels: po 2/4, pe (2*1 + 1*1 + 1*1)/16 -> 1/3
        (["w", "w", "l", "t"], ["w", "t", "l", "b"], 1 / 3, 0.5),
    ],
)
def test_cohen_kappa_of_hand_made_tables(a, b, kappa, observed):
    k = cohen_kappa(a, b)
    assert k.kappa == pytest.approx(kappa) and k.observed == pytest.approx(observed) and k.n == len(a)


def test_kappa_edge_cases_are_reported_not_invented():
    assert cohen_kappa([], []).kappa is None
    assert cohen_kappa(["x"] * 3, ["x"] * 3).kappa is None  # chance agreement 1: undefined
    assert fleiss_kappa([["a"], ["b"]]).n == 0  # single votes carry no agreement
    with pytest.raises(ValueError, match="same number"):
        cohen_kappa(["x"], [])
    assert confusion_matrix(["c", "c", "i"], ["c", "p", "i"], ["c", "p", "i"]) == [
        [1, 1, 0],
        [0, 0, 0],
        [0, 0, 1],
    ]
    assert consensus(["c", "p"]) is None and consensus(["c", "c", "p"]) == "c"


def test_bootstrap_shares_count_votes_and_resample_items():
    items = [["win", "win"], ["loss"], ["tie", "win"], ["both_bad"]]
    s = bootstrap_shares(items, ["win", "tie", "loss", "both_bad"], resamples=500, seed=3)
    assert {k: (v.count, v.total) for k, v in s.items()} == {
        "win": (3, 6),
        "tie": (1, 6),
        "loss": (1, 6),
        "both_bad": (1, 6),
    }
    assert s["win"].rate == 0.5 and s["win"].low < 0.5 < s["win"].high
    assert all(0.0 <= v.low <= v.rate <= v.high <= 1.0 for v in s.values())
    # the same seed gives the same interval; an item with all its votes is the unit
    again = bootstrap_shares(items, ["win", "tie", "loss", "both_bad"], resamples=500, seed=3)
    assert again == s
    assert bootstrap_shares([[], []], ["win"])["win"].rate is None


def test_pairwise_outcomes_follow_the_recorded_side():
    assert [pairwise_outcome(c, ["B", "A"]) for c in ("1", "2", "tie", "both_bad")] == [
        "loss",
        "win",
        "tie",
        "both_bad",
    ]
    with pytest.raises(ValueError, match="expected 1, 2, tie or both_bad"):
        pairwise_outcome("3", ["A", "B"])


def _choice_for(outcome, order):
    """The displayed choice that gives model A this outcome on an item shown in ``order``."""
    if outcome in ("tie", "both_bad"):
        return outcome
    wanted = "A" if outcome == "win" else "B"
    return str(order.index(wanted) + 1)


def test_pairwise_report_of_a_hand_made_vote_table(runs, tmp_path):
    store = ReviewStore.create(tmp_path / "p.db", sample_pairwise(runs["good"], runs["weak"], n=4, seed=0))
    items = store.items()
    assert {tuple(it.order) for it in items} == {("A", "B"), ("B", "A")}  # both sides occur
    r1, _ = store.add_reviewer("R1")
    r2, _ = store.add_reviewer("R2")
    table = {
        r1.reviewer_id: ["win", "win", "loss", "tie"],
        r2.reviewer_id: ["win", "tie", "loss", "both_bad"],
    }
    for rid, outcomes in table.items():
        for it, outcome in zip(items, outcomes, strict=True):
            store.cast_vote(rid, it.item_id, _choice_for(outcome, it.order))
    p = analyse(store)
    overall = next(r for r in p["table"] if r["task"] == "overall")
    shares = {k: (v["count"], v["rate"]) for k, v in overall["shares"].items()}
    assert shares == {"win": (3, 0.375), "tie": (2, 0.25), "loss": (2, 0.25), "both_bad": (1, 0.125)}
    assert overall["votes"] == 8 and overall["items_voted"] == 4
    per_task = {r["task"]: r["votes"] for r in p["table"] if r["task"] != "overall"}
    assert sum(per_task.values()) == 8 and set(per_task) == {it.task for it in items}
    # Fleiss: item agreement 1, 0, 1, 0 -> 0.5; pe = (3^2 + 2^2 + 2^2 + 1^2) / 8^2; kappa = 7/23
    f = p["agreement"]["fleiss"]
    assert (f["n"], f["ratings"]) == (4, 8) and f["observed"] == 0.5
    assert f["expected"] == pytest.approx(18 / 64) and f["kappa"] == pytest.approx(7 / 23)
    (pair,) = p["agreement"]["cohen_pairs"]
    assert pair["reviewers"] == ["R1", "R2"] and pair["n"] == 4 and pair["kappa"] == pytest.approx(1 / 3)
    assert p["models"] == {"A": "org/Good-7B", "B": "org/Weak-2B"}

    out = tmp_path / "report"
    write_report(store, out)
    md = (out / "report.md").read_text()
    assert "| overall | 4/4 | 8 | 37.5 (" in md and "Fleiss' kappa 0.304 over 4 item(s)" in md
    assert "Cohen's kappa R1 vs R2: 0.333 on 4 shared item(s)" in md
    assert (out / "review_chart.png").read_bytes().startswith(b"\x89PNG")
    assert "<img src='review_chart.png'" in (out / "report.html").read_text()
    assert json.loads((out / "report.json").read_text())["votes"] == 8
    store.close()


def test_judge_audit_report_feeds_the_eval_report_and_leaderboard(runs, tmp_path):
    from medix_r1.leaderboard import build_leaderboard

    store = ReviewStore.create(tmp_path / "a.db", sample_judge_audit(runs["weak"], n=4, seed=0))
    items = store.items()
    judge = [it.judge["label"] for it in items]
    assert sorted(judge) == ["correct", "correct", "incorrect", "incorrect"]
    r1, _ = store.add_reviewer("R1")
    r2, _ = store.add_reviewer("R2")
    first_correct = judge.index("correct")
    for k, it in enumerate(items):
        store.cast_vote(r1.reviewer_id, it.item_id, it.judge["label"])  # R1 agrees everywhere
        label = "partial" if k == first_correct else it.judge["label"]  # R2 once says partial
        store.cast_vote(r2.reviewer_id, it.item_id, label, "half right" if k == first_correct else "")
    p = analyse(store)
    j = p["judge_vs_clinicians"]
    # 8 votes, 7 agree; judge marginals c4 i4, clinicians c3 p1 i4: pe = (12 + 16) / 64 -> kappa 7/9
    assert (j["n"], j["observed"]) == (8, 7 / 8)
    assert j["expected"] == pytest.approx(28 / 64) and j["kappa"] == pytest.approx(7 / 9)
    assert j["confusion"] == [[3, 1, 0], [0, 0, 0], [0, 0, 4]]  # rows judge, columns clinicians
    # the run's judge said correct 7 times and incorrect 14 times: 7/21 * 3/4 + 14/21 * 1
    assert j["weighted_agreement"] == pytest.approx(0.25 + 2 / 3)
    (d,) = p["disagreements"]
    assert d["item_id"] == items[first_correct].item_id and d["consensus"] == "split"
    assert d["comments"] == [{"reviewer": "R2", "comment": "half right"}]

    write_report(store, tmp_path / "report")
    audit = json.loads((runs["weak"] / "judge_audit.json").read_text())
    assert audit["agreement"] == 7 / 8 and audit["votes"] == 8 and audit["reviewers"] == 2
    assert audit["model"] == "org/Weak-2B"
    md = (tmp_path / "report" / "report.md").read_text()
    assert "observed agreement 87.5%, Cohen's kappa 0.778" in md and "half right" in md
    # the run's own evaluation report now shows the figure next to its score
    run_md = (runs["weak"] / "report.md").read_text()
    line = "- **Judge agreement with clinicians**: 87.5% of 8 clinician votes agree with the judge (kappa 0.78, 2 reviewers)"
    assert line in run_md
    assert run_md.index("Overall (macro, published)") < run_md.index("Judge agreement")
    # and so does the leaderboard (the run without an audit shows none)
    entries = build_leaderboard([runs["good"].parent], tmp_path / "site")
    assert {e.model: bool(e.judge_audit) for e in entries} == {"org/Good-7B": False, "org/Weak-2B": True}
    page = (tmp_path / "site" / "index.html").read_text()
    assert "judge agrees with clinicians 88%, &kappa; 0.78 (n=8)" in page
    rows = {
        r["model"]: r
        for r in csv.DictReader(io.StringIO((tmp_path / "site" / "leaderboard.csv").read_text()))
    }
    assert (
        rows["org/Weak-2B"]["judge_agreement"] == "87.50" and rows["org/Weak-2B"]["judge_kappa"] == "0.7778"
    )
    assert rows["org/Good-7B"]["judge_agreement"] == ""
    store.close()
