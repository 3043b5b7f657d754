"""Merge evaluation runs into a static leaderboard: ``index.html`` (sortable) and ``leaderboard.csv``.

Each input is a model folder (``OUT/<m>/``), an output folder holding model folders, or a submission
zip (verified first; a rejected zip is an error). Scores are always recomputed from the judgement
file, never copied from a score file, and ranked by the published macro overall. A run folder
holding a clinician audit of its judge (``judge_audit.json``, from ``medix-r1 review report``) shows
the judge-agreement figure next to its overall score.
"""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medix_r1.evaluation.files import read_rows, write_text_atomic
from medix_r1.evaluation.reports import format_judge_agreement, read_judge_audit
from medix_r1.evaluation.scoring import compute_scores, task_of_id

__all__ = ["Entry", "collect_runs", "build_leaderboard", "render_leaderboard_html", "render_leaderboard_csv"]


@dataclass
class Entry:
    model: str
    source: str
    tasks: dict[str, float | None]
    intervals: dict[str, tuple[float, float] | None]
    overall: float | None
    overall_micro: float | None
    judges: list[str] = field(default_factory=list)
    samples: int = 0
    judge_failed: int = 0
    missing: list[str] = field(default_factory=list)
    judge_audit: dict[str, Any] | None = None  # clinicians' audit of the judge on this run, if any


def _gradings() -> dict[str, str]:
    from medix_r1.evaluation.registry import EXTRA_TASKS, PUBLISHED_TASKS

    return {n: t.grading for n, t in {**PUBLISHED_TASKS, **EXTRA_TASKS}.items()}


def _entry(model: str, source: str, rows: list[dict[str, Any]], task_order: list[str] | None) -> Entry:
    seen: list[str] = []
    for r in rows:
        t = r.get("task") or task_of_id(r["id"])
        if t not in seen:
            seen.append(t)
    tasks = [t for t in (task_order or []) if t in seen] + [t for t in seen if t not in (task_order or [])]
    g = _gradings()
    scores = compute_scores(rows, tasks, gradings={t: g.get(t, "binary") for t in tasks})
    judges = sorted({r["judge_model"] for r in rows if r.get("judge_model")})
    return Entry(
        model=model,
        source=source,
        tasks={t: s.score for t, s in scores.tasks.items()},
        intervals={t: s.interval for t, s in scores.tasks.items()},
        overall=scores.overall,
        overall_micro=scores.overall_micro,
        judges=judges,
        samples=sum(s.samples for s in scores.tasks.values()),
        judge_failed=scores.judge_failed,
        missing=scores.missing,
    )


def _from_dir(d: Path) -> Entry:
    stem = d.name
    rows = list(read_rows(d / f"{stem}_eval.jsonl", repair=False).rows.values())
    meta: dict[str, Any] = {}
    if (d / "scores.json").exists():
        meta = json.loads((d / "scores.json").read_text())
    order = list(meta.get("tasks") or [])
    entry = _entry(str(meta.get("model") or stem), str(d), rows, order or None)
    entry.judge_audit = read_judge_audit(d)
    return entry


def collect_runs(inputs: list[str | Path]) -> list[Entry]:
    """One entry per model found in the inputs."""
    from medix_r1.leaderboard.verify import verify_submission

    entries: list[Entry] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_file() and p.suffix == ".zip":
            report = verify_submission(p)
            if not report.ok:
                raise ValueError(report.summary())
            entries.append(_entry(report.model_dir or p.stem, str(p), report.rows, None))
        elif p.is_dir() and (p / f"{p.name}_eval.jsonl").exists():
            entries.append(_from_dir(p))
        elif p.is_dir():
            found = sorted(d for d in p.iterdir() if d.is_dir() and (d / f"{d.name}_eval.jsonl").exists())
            if not found:
                raise FileNotFoundError(f"{p} holds no run folder (<m>/<m>_eval.jsonl)")
            entries += [_from_dir(d) for d in found]
        else:
            raise FileNotFoundError(f"{p} is neither a run folder nor a submission zip")
    return entries


def _rank(entries: list[Entry]) -> list[Entry]:
    return sorted(entries, key=lambda e: (e.overall is None, -(e.overall or 0.0), e.model))


def _columns(entries: list[Entry]) -> list[str]:
    from medix_r1.evaluation.registry import EXTRA_TASKS, PUBLISHED_TASKS

    order = list(PUBLISHED_TASKS) + list(EXTRA_TASKS)
    present = {t for e in entries for t in e.tasks}
    cols = [t for t in order if t in present]
    for e in entries:
        cols += [t for t in e.tasks if t not in cols]
    return cols


def render_leaderboard_csv(entries: list[Entry]) -> str:
    entries = _rank(entries)
    cols = _columns(entries)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    header = ["rank", "model", "overall", "overall_micro", "judge", "samples", "judge_failed"]
    for t in cols:
        header += [t, f"{t}_ci_low", f"{t}_ci_high"]
    header += ["judge_agreement", "judge_kappa", "judge_audit_votes"]  # clinicians vs the LLM judge
    w.writerow(header)

    def fmt(x: float | None) -> str:
        return "" if x is None else f"{100 * x:.2f}"

    for i, e in enumerate(entries, 1):
        row = [
            i,
            e.model,
            fmt(e.overall),
            fmt(e.overall_micro),
            ";".join(e.judges),
            e.samples,
            e.judge_failed,
        ]
        for t in cols:
            iv = e.intervals.get(t)
            row += [fmt(e.tasks.get(t)), fmt(iv[0]) if iv else "", fmt(iv[1]) if iv else ""]
        audit = e.judge_audit or {}
        row += [fmt(audit.get("agreement")), "" if audit.get("kappa") is None else f"{audit['kappa']:.4f}"]
        row += [audit.get("votes", "")]
        w.writerow(row)
    return buf.getvalue()


_SORT_JS = """
document.querySelectorAll('th[data-col]').forEach(function (th) {
  th.addEventListener('click', function () {
    var table = th.closest('table'), body = table.tBodies[0], col = +th.dataset.col;
    var dir = th.dataset.dir === 'desc' ? 'asc' : 'desc'; th.dataset.dir = dir;
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
      var nx = parseFloat(x), ny = parseFloat(y), c;
      if (isNaN(nx) && isNaN(ny)) c = (x || '').localeCompare(y || '');
      else if (isNaN(nx)) return 1; else if (isNaN(ny)) return -1; else c = nx - ny;
      return dir === 'asc' ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def render_leaderboard_html(entries: list[Entry], *, title: str = "MediX-R1 evaluation leaderboard") -> str:
    esc = html.escape
    entries = _rank(entries)
    cols = _columns(entries)
    heads = ["#", "model", "overall", "micro", "judge"] + cols
    thead = "".join(f"<th data-col='{i}' title='click to sort'>{esc(h)}</th>" for i, h in enumerate(heads))
    body = []
    for i, e in enumerate(entries, 1):

        def cell(x: float | None, iv: tuple[float, float] | None = None) -> str:
            if x is None:
                return "<td data-v=''>-</td>"
            ci = f"<br><small>{100 * iv[0]:.1f}-{100 * iv[1]:.1f}</small>" if iv else ""
            return f"<td data-v='{x:.6f}'>{100 * x:.2f}{ci}</td>"

        overall = cell(e.overall)
        if e.judge_audit and e.judge_audit.get("agreement") is not None:
            a = e.judge_audit
            kappa = "" if a.get("kappa") is None else f", &kappa; {a['kappa']:.2f}"
            overall = overall.replace(
                "</td>",
                f"<br><small title='{esc(format_judge_agreement(a))}'>judge agrees with clinicians "
                f"{100 * a['agreement']:.0f}%{kappa} (n={int(a.get('votes', 0))})</small></td>",
            )
        cells = [
            f"<td data-v='{i}'>{i}</td>",
            f"<td data-v='{esc(e.model)}'>{esc(e.model)}</td>",
            overall,
            cell(e.overall_micro),
            f"<td data-v='{esc(';'.join(e.judges))}'>{esc(', '.join(e.judges) or '-')}</td>",
        ]
        cells += [cell(e.tasks.get(t), e.intervals.get(t)) for t in cols]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 6px;text-align:right}"
        "th{cursor:pointer;background:#f3f3f3}td:nth-child(2){text-align:left}small{color:#777}</style>"
        f"</head><body><h1>{esc(title)}</h1><p>Scores in %, 95% bootstrap intervals below each task score. "
        "Overall = unweighted mean of task scores (published); micro = mean over samples. "
        "Recomputed from each run's judgement file.</p>"
        f"<table><thead><tr>{thead}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        f"<script>{_SORT_JS}</script></body></html>\n"
    )


def build_leaderboard(inputs: list[str | Path], site: str | Path) -> list[Entry]:
    """Write ``SITE/index.html`` and ``SITE/leaderboard.csv``; returns the ranked entries."""
    entries = _rank(collect_runs(inputs))
    names = [e.model for e in entries]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"model(s) {', '.join(dup)} appear in more than one input; give each once")
    site = Path(site)
    write_text_atomic(site / "index.html", render_leaderboard_html(entries))
    write_text_atomic(site / "leaderboard.csv", render_leaderboard_csv(entries))
    return entries
