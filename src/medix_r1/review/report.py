"""The study owner's report: ``report.md``, ``report.html``, ``review_chart.png`` and ``report.json``.

Pairwise studies: win / tie / loss / both-unacceptable shares of model A against model B, per task
and overall, each with an item-bootstrap 95% interval; inter-reviewer agreement (Fleiss' kappa over
items with two or more votes, and Cohen's kappa for each pair of reviewers), with counts.

Judge audits: agreement between the LLM judge's verdict and each clinician vote (observed agreement,
Cohen's kappa, the confusion matrix), the same agreement weighted back to the run's mix of verdicts
(the sample is stratified), and the items where the clinicians' consensus differs from the judge.
:func:`write_report` also writes ``judge_audit.json`` into the audited run folder, which the
evaluation report and the leaderboard show next to the model's score.
"""

from __future__ import annotations

import html
import json
import time
from collections import defaultdict
from itertools import combinations
from pathlib import Path
from typing import Any

from medix_r1.files import atomic_path, write_text_atomic
from medix_r1.review.sampling import JUDGE_LABELS
from medix_r1.review.stats import (
    OUTCOMES,
    bootstrap_shares,
    cohen_kappa,
    confusion_matrix,
    consensus,
    fleiss_kappa,
    pairwise_outcome,
)
from medix_r1.review.store import ReviewStore

__all__ = ["analyse", "render_markdown", "render_html", "plot_chart", "write_report", "JUDGE_AUDIT_FILE"]

JUDGE_AUDIT_FILE = "judge_audit.json"
_OUTCOME_NAMES = {"win": "A better", "tie": "tie", "loss": "B better", "both_bad": "both unacceptable"}


def _kappa_dict(k: Any) -> dict[str, Any]:
    return {"kappa": k.kappa, "observed": k.observed, "expected": k.expected, "n": k.n, "ratings": k.ratings}


def _agreement(labels_by_item: dict[str, list[tuple[str, str]]], names: dict[str, str]) -> dict[str, Any]:
    """Inter-reviewer agreement from ``item -> [(reviewer, label)]``."""
    fleiss = fleiss_kappa([[lab for _, lab in v] for v in labels_by_item.values()])
    by_reviewer: dict[str, dict[str, str]] = defaultdict(dict)
    for item, pairs in labels_by_item.items():
        for rid, lab in pairs:
            by_reviewer[rid][item] = lab
    pairs_out = []
    for r1, r2 in combinations(sorted(by_reviewer, key=lambda r: names.get(r, r)), 2):
        shared = sorted(set(by_reviewer[r1]) & set(by_reviewer[r2]))
        if not shared:
            continue
        k = cohen_kappa([by_reviewer[r1][i] for i in shared], [by_reviewer[r2][i] for i in shared])
        pairs_out.append({"reviewers": [names.get(r1, r1), names.get(r2, r2)], **_kappa_dict(k)})
    return {"fleiss": _kappa_dict(fleiss), "cohen_pairs": pairs_out}


def analyse(store: ReviewStore, *, resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """The report's numbers as one JSON-serialisable payload."""
    study = store.study
    items = {it.item_id: it for it in store.items()}
    votes = store.votes()
    reviewers = store.reviewers()
    names = {r.reviewer_id: r.name for r in reviewers}
    per_reviewer = defaultdict(int)
    for v in votes:
        per_reviewer[v.reviewer_id] += 1
    payload: dict[str, Any] = {
        "study_id": study.study_id,
        "kind": study.kind,
        "created_at": study.created_at,
        "reported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": study.settings,
        "sources": study.sources,
        "items": len(items),
        "items_voted": len({v.item_id for v in votes}),
        "votes": len(votes),
        "reviewers": [{"name": r.name, "votes": per_reviewer[r.reviewer_id]} for r in reviewers],
        "bootstrap": {"resamples": resamples, "seed": seed, "unit": "item"},
    }
    if study.kind == "pairwise":
        outcomes: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for v in votes:
            outcomes[v.item_id].append((v.reviewer_id, pairwise_outcome(v.choice, items[v.item_id].order)))
        tasks = sorted({it.task for it in items.values()})
        rows = []
        for task in tasks + ["overall"]:
            chosen = [i for i, it in items.items() if task == "overall" or it.task == task]
            groups = [[o for _, o in outcomes.get(i, [])] for i in chosen]
            shares = bootstrap_shares(groups, OUTCOMES, resamples=resamples, seed=seed)
            rows.append(
                {
                    "task": task,
                    "items": len(chosen),
                    "items_voted": sum(1 for g in groups if g),
                    "votes": sum(len(g) for g in groups),
                    "shares": {k: vars(s) for k, s in shares.items()},
                }
            )
        payload["models"] = {"A": study.sources["A"]["model"], "B": study.sources["B"]["model"]}
        payload["table"] = rows
        payload["agreement"] = _agreement(outcomes, names)
    else:
        payload.update(_audit(items, votes, names, study.settings, resamples=resamples, seed=seed))
    return payload


def _audit(
    items: dict[str, Any], votes: list[Any], names: dict[str, str], settings: dict[str, Any], **_: Any
) -> dict[str, Any]:
    labels: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for v in votes:
        labels[v.item_id].append((v.reviewer_id, v.choice))
    judge = [items[v.item_id].judge["label"] for v in votes]
    clin = [v.choice for v in votes]
    k = cohen_kappa(judge, clin)
    # Agreement within each judge verdict, weighted by how often the run's judge gave that verdict.
    population = settings.get("strata_population") or {}
    by_stratum: dict[str, list[bool]] = defaultdict(list)
    for j, c in zip(judge, clin, strict=True):
        by_stratum[j].append(j == c)
    weighted = None
    total_pop = sum(population.get(s, 0) for s in by_stratum)
    if total_pop:
        weighted = sum(population.get(s, 0) / total_pop * (sum(a) / len(a)) for s, a in by_stratum.items())
    per_task: dict[str, list[bool]] = defaultdict(list)
    for v in votes:
        per_task[items[v.item_id].task].append(items[v.item_id].judge["label"] == v.choice)
    disagreements = []
    for item_id, pairs in labels.items():
        it = items[item_id]
        agreed = consensus([lab for _, lab in pairs])
        if agreed != it.judge["label"]:
            disagreements.append(
                {
                    "item_id": item_id,
                    "task": it.task,
                    "judge": it.judge["label"],
                    "judge_score": it.judge.get("score"),
                    "clinicians": [{"reviewer": names.get(r, r), "label": lab} for r, lab in pairs],
                    "consensus": agreed or "split",
                    "question": it.question,
                    "reference": it.reference,
                    "answer": it.answers["X"]["answer"],
                    "comments": [
                        {"reviewer": names.get(v.reviewer_id, v.reviewer_id), "comment": v.comment}
                        for v in votes
                        if v.item_id == item_id and v.comment
                    ],
                }
            )
    disagreements.sort(key=lambda d: [i.item_id for i in items.values()].index(d["item_id"]))
    return {
        "judge_vs_clinicians": {
            **_kappa_dict(k),
            "labels": list(JUDGE_LABELS),
            "confusion": confusion_matrix(judge, clin, JUDGE_LABELS),  # rows: judge, columns: clinicians
            "weighted_agreement": weighted,
            "per_task": {
                t: {"votes": len(a), "agreement": sum(a) / len(a)} for t, a in sorted(per_task.items())
            },
        },
        "disagreements": disagreements,
        "agreement": _agreement(labels, names),
    }


# -- rendering --------------------------------------------------------------------------------------
def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}"


def _k(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _share_cell(s: dict[str, Any]) -> str:
    if s["rate"] is None:
        return "n/a"
    return f"{_pct(s['rate'])} ({_pct(s['low'])}-{_pct(s['high'])})"


def _pairwise_table(p: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    a, b = p["models"]["A"], p["models"]["B"]
    head = [
        "task",
        "items voted",
        "votes",
        f"{a} better % (95% CI)",
        "tie % (95% CI)",
        f"{b} better % (95% CI)",
        "both unacceptable % (95% CI)",
    ]
    rows = []
    for r in p["table"]:
        s = r["shares"]
        rows.append(
            [
                r["task"],
                f"{r['items_voted']}/{r['items']}",
                str(r["votes"]),
                _share_cell(s["win"]),
                _share_cell(s["tie"]),
                _share_cell(s["loss"]),
                _share_cell(s["both_bad"]),
            ]
        )
    return head, rows


def _agreement_lines(p: dict[str, Any]) -> list[str]:
    f = p["agreement"]["fleiss"]
    lines = [
        f"Fleiss' kappa {_k(f['kappa'])} over {f['n']} item(s) with two or more votes "
        f"({f['ratings']} ratings; observed agreement {_pct(f['observed'])}%)."
    ]
    for c in p["agreement"]["cohen_pairs"]:
        lines.append(
            f"Cohen's kappa {c['reviewers'][0]} vs {c['reviewers'][1]}: {_k(c['kappa'])} "
            f"on {c['n']} shared item(s) (observed agreement {_pct(c['observed'])}%)."
        )
    if f["n"] == 0:
        lines.append("No item has two votes yet: agreement needs at least two reviewers on the same items.")
    return lines


def _audit_summary(p: dict[str, Any]) -> list[str]:
    j = p["judge_vs_clinicians"]
    return [
        f"Judge vs clinicians over {j['n']} vote(s): observed agreement {_pct(j['observed'])}%, "
        f"Cohen's kappa {_k(j['kappa'])} (chance agreement {_pct(j['expected'])}%).",
        f"Agreement weighted to the run's mix of judge verdicts: {_pct(j['weighted_agreement'])}%.",
    ]


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in r) + " |" for r in rows]
    return out


def _confusion_rows(p: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    j = p["judge_vs_clinicians"]
    head = ["judge \\ clinicians"] + j["labels"]
    return head, [[lab] + [str(c) for c in row] for lab, row in zip(j["labels"], j["confusion"], strict=True)]


def _short(text: str, n: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _header_lines(p: dict[str, Any]) -> list[str]:
    who = ", ".join(f"{r['name']} ({r['votes']})" for r in p["reviewers"]) or "none yet"
    s = p["settings"]
    if p["kind"] == "pairwise":
        what = f"{p['models']['A']} (A) vs {p['models']['B']} (B)"
    else:
        what = f"judge audit of {p['sources']['X']['model']} (judge: {', '.join(p['sources'].get('judge_models') or []) or '?'})"
    return [
        f"- **Study**: {p['study_id']} ({p['kind']}), {what}",
        f"- **Items**: {p['items']} ({p['items_voted']} with votes), **votes**: {p['votes']}",
        f"- **Reviewers (votes)**: {who}",
        f"- **Sampling**: seed {s.get('seed')}, {s.get('sampling')}; reasoning "
        f"{'shown' if s.get('show_reasoning') else 'hidden'}, reference {'shown' if s.get('show_reference') else 'hidden'}",
    ]


def render_markdown(p: dict[str, Any]) -> str:
    title = "Pairwise review" if p["kind"] == "pairwise" else "Judge audit"
    lines = [f"# {title} report", ""] + _header_lines(p) + [""]
    if p["kind"] == "pairwise":
        head, rows = _pairwise_table(p)
        lines += ["## Preferences", ""] + _md_table(head, rows)
        lines += [
            "",
            "Shares of votes; 95% intervals from a percentile bootstrap over items "
            f"({p['bootstrap']['resamples']} resamples, seed {p['bootstrap']['seed']}).",
            "",
        ]
    else:
        lines += ["## Judge vs clinicians", ""] + [f"- {x}" for x in _audit_summary(p)] + [""]
        head, rows = _confusion_rows(p)
        lines += _md_table(head, rows) + [""]
        per_task = p["judge_vs_clinicians"]["per_task"]
        lines += _md_table(
            ["task", "votes", "agreement %"],
            [[t, str(d["votes"]), _pct(d["agreement"])] for t, d in per_task.items()],
        )
        lines += [
            "",
            f"## Items where the clinicians' consensus differs from the judge ({len(p['disagreements'])})",
            "",
        ]
        lines += _md_table(
            ["item", "judge", "clinicians", "answer", "reference", "comments"],
            [
                [
                    d["item_id"],
                    f"{d['judge']} ({d['judge_score']})",
                    ", ".join(f"{c['reviewer']}: {c['label']}" for c in d["clinicians"]),
                    _short(d["answer"]),
                    _short(d["reference"]),
                    "; ".join(f"{c['reviewer']}: {_short(c['comment'], 100)}" for c in d["comments"]),
                ]
                for d in p["disagreements"]
            ],
        )
        lines += [""]
    lines += ["## Inter-reviewer agreement", ""] + [f"- {x}" for x in _agreement_lines(p)] + [""]
    return "\n".join(lines)


def render_html(p: dict[str, Any], chart: str | None = "review_chart.png") -> str:
    esc = html.escape

    def table(head: list[str], rows: list[list[str]]) -> str:
        th = "".join(f"<th scope='col'>{esc(h)}</th>" for h in head)
        body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
        return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"

    def bullets(lines: list[str]) -> str:
        return "<ul>" + "".join(f"<li>{esc(x.lstrip('- ').replace('**', ''))}</li>" for x in lines) + "</ul>"

    title = "Pairwise review report" if p["kind"] == "pairwise" else "Judge audit report"
    parts = [f"<h1>{esc(title)}</h1>", bullets(_header_lines(p))]
    if p["kind"] == "pairwise":
        parts += ["<h2>Preferences</h2>", table(*_pairwise_table(p))]
        parts.append(
            f"<p>Shares of votes; 95% intervals from a percentile bootstrap over items "
            f"({p['bootstrap']['resamples']} resamples, seed {p['bootstrap']['seed']}).</p>"
        )
    else:
        parts += ["<h2>Judge vs clinicians</h2>", bullets(_audit_summary(p)), table(*_confusion_rows(p))]
        per_task = p["judge_vs_clinicians"]["per_task"]
        parts.append(
            table(
                ["task", "votes", "agreement %"],
                [[t, str(d["votes"]), _pct(d["agreement"])] for t, d in per_task.items()],
            )
        )
        parts.append(
            f"<h2>Items where the clinicians' consensus differs from the judge ({len(p['disagreements'])})</h2>"
        )
        parts.append(
            table(
                ["item", "judge", "clinicians", "question", "answer", "reference", "comments"],
                [
                    [
                        d["item_id"],
                        f"{d['judge']} ({d['judge_score']})",
                        ", ".join(f"{c['reviewer']}: {c['label']}" for c in d["clinicians"]),
                        _short(d["question"], 300),
                        _short(d["answer"], 300),
                        _short(d["reference"], 300),
                        "; ".join(f"{c['reviewer']}: {c['comment']}" for c in d["comments"]),
                    ]
                    for d in p["disagreements"]
                ],
            )
        )
    parts += ["<h2>Inter-reviewer agreement</h2>", bullets(_agreement_lines(p))]
    if chart:
        parts.append(f"<img src='{esc(chart)}' alt='{esc(title)} chart'>")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title><style>body{{font-family:sans-serif;margin:2em;max-width:75em}}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:left;vertical-align:top}img{max-width:100%}</style></head><body>"
        + "".join(parts)
        + "</body></html>\n"
    )


def plot_chart(p: dict[str, Any], path: Path) -> None:
    """Pairwise: shares per task with intervals. Judge audit: the confusion matrix."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if p["kind"] == "pairwise":
        rows = p["table"]
        fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(rows) + 2), 4.5))
        width = 0.2
        colors = {"win": "#4c72b0", "tie": "#999999", "loss": "#dd8452", "both_bad": "#c44e52"}
        for k, outcome in enumerate(OUTCOMES):
            xs, ys, lo, hi = [], [], [], []
            for i, r in enumerate(rows):
                s = r["shares"][outcome]
                rate = s["rate"] or 0.0
                xs.append(i + (k - 1.5) * width)
                ys.append(100 * rate)
                lo.append(100 * (rate - (s["low"] if s["low"] is not None else rate)))
                hi.append(100 * ((s["high"] if s["high"] is not None else rate) - rate))
            label = {"win": f"{p['models']['A']} better", "loss": f"{p['models']['B']} better"}.get(
                outcome, _OUTCOME_NAMES[outcome]
            )
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, color=colors[outcome], label=label)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels(
            [f"{r['task']}\n(n={r['votes']})" for r in rows], rotation=30, ha="right", fontsize=8
        )
        ax.set_ylim(0, 100)
        ax.set_ylabel("% of votes (95% CI)")
        ax.legend(fontsize=8)
        ax.set_title(f"{p['models']['A']} vs {p['models']['B']}: blind pairwise review")
    else:
        j = p["judge_vs_clinicians"]
        fig, ax = plt.subplots(figsize=(5, 4.2))
        ax.imshow(j["confusion"], cmap="Blues")
        for r, row in enumerate(j["confusion"]):
            for c, value in enumerate(row):
                ax.text(c, r, str(value), ha="center", va="center")
        ax.set_xticks(range(len(j["labels"])))
        ax.set_xticklabels(j["labels"])
        ax.set_yticks(range(len(j["labels"])))
        ax.set_yticklabels(j["labels"])
        ax.set_xlabel("clinicians")
        ax.set_ylabel("LLM judge")
        ax.set_title(f"judge vs clinicians: agreement {_pct(j['observed'])}%, kappa {_k(j['kappa'])}")
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100)
    finally:
        plt.close(fig)


def judge_audit_summary(p: dict[str, Any]) -> dict[str, Any]:
    """What ``judge_audit.json`` holds: the figure shown next to a model's score."""
    j = p["judge_vs_clinicians"]
    return {
        "study_id": p["study_id"],
        "model": p["sources"]["X"]["model"],
        "judge_models": p["sources"].get("judge_models") or [],
        "agreement": j["observed"],
        "weighted_agreement": j["weighted_agreement"],
        "kappa": j["kappa"],
        "votes": j["n"],
        "items": p["items_voted"],
        "reviewers": sum(1 for r in p["reviewers"] if r["votes"]),
        "reported_at": p["reported_at"],
    }


def write_report(
    store: ReviewStore, out_dir: str | Path, *, write_run: bool = True, chart: bool = True
) -> dict[str, Any]:
    """Write the report files into ``out_dir``; for judge audits, also ``judge_audit.json`` in the run
    folder (and that run's evaluation report is redrawn to show it). Returns the payload."""

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    p = analyse(store)
    write_text_atomic(out / "report.json", json.dumps(p, indent=2, ensure_ascii=False) + "\n")
    write_text_atomic(out / "report.md", render_markdown(p))
    write_text_atomic(out / "report.html", render_html(p, "review_chart.png" if chart else None))
    if chart:
        plot_chart(p, out / "review_chart.png")
    p["written"] = [str(out / n) for n in ("report.md", "report.html", "report.json")] + (
        [str(out / "review_chart.png")] if chart else []
    )
    if write_run and p["kind"] == "judge_audit" and p["votes"]:
        run_dir = Path(p["sources"]["X"]["dir"])
        if run_dir.is_dir():
            write_text_atomic(run_dir / JUDGE_AUDIT_FILE, json.dumps(judge_audit_summary(p), indent=2) + "\n")
            p["written"].append(str(run_dir / JUDGE_AUDIT_FILE))
            scores = run_dir / "scores.json"
            if scores.exists():
                from medix_r1.evaluation.reports import write_reports

                write_reports(run_dir, json.loads(scores.read_text(encoding="utf-8")))
    return p
