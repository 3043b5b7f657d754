"""Merge evaluation runs into a static leaderboard: ``index.html`` (sortable) and ``leaderboard.csv``.

Each input is a model folder (``OUT/<m>/``), an output folder holding model folders, or a submission
zip (verified first; a rejected zip is an error). Scores are always recomputed from the judgement
file, never copied from a score file, and ranked by the published macro overall. A run folder
holding a clinician audit of its judge (``judge_audit.json``, from ``medix-r1 review report``) shows
the judge-agreement figure next to its overall score.

Runs that cannot be compared are flagged, on the page and in the CSV's ``flags`` column (issue 17):
another task set or another judge than most runs, fewer samples of a task than its published size
(or than the other runs), a run made with ``--limit``, a judgement file cut short. An entry is named
by the full model name its run recorded (``run.json`` / ``scores.json``), so ``orgA/m`` and
``orgB/m`` stay two entries, and a folder whose recorded model belongs to another folder name is
refused. CSV cells that a spreadsheet would run as a formula (starting with ``= + - @``, a tab or a
carriage return) are written with a leading ``'``.
"""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medix_r1.errors import MedixError
from medix_r1.evaluation.files import read_rows
from medix_r1.evaluation.reports import format_judge_agreement, read_judge_audit
from medix_r1.evaluation.scoring import compute_scores, task_of_id
from medix_r1.files import write_text_atomic

__all__ = [
    "Entry",
    "LeaderboardError",
    "collect_runs",
    "build_leaderboard",
    "flag_incomparable",
    "render_leaderboard_html",
    "render_leaderboard_csv",
    "csv_safe",
]


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
    counts: dict[str, int] = field(default_factory=dict)  # samples per task
    limit: int | None = None  # the run's --limit, when it had one
    torn: int = 0  # lines of the judgement file cut short (a write interrupted)
    flags: list[str] = field(default_factory=list)  # why this run is not comparable with the rest


class LeaderboardError(MedixError, ValueError):
    """The inputs cannot make a leaderboard as given; the message says which input and why."""


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
        counts={t: s.samples for t, s in scores.tasks.items()},
    )


def _json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise LeaderboardError(
            f"{path} is not JSON ({exc}); rerun `medix-r1 eval run ... --phases score`"
        ) from None
    return loaded if isinstance(loaded, dict) else {}


def _recorded_model(where: str, stem: str, *records: dict[str, Any]) -> str:
    """The full model name a run recorded; refused when two records disagree or it is another folder's."""
    from medix_r1.evaluation.files import model_dirname

    names = [str(r["model"]) for r in records if r.get("model")]
    if len(set(names)) > 1:
        raise LeaderboardError(
            f"{where} records two models ({' and '.join(sorted(set(names)))}): its files come from "
            "different runs; rerun it into its own --out folder"
        )
    if not names:
        return stem
    try:
        belongs = model_dirname(names[0])
    except ValueError:
        belongs = stem
    if belongs != stem:
        raise LeaderboardError(
            f"{where} holds the run of {names[0]!r}, whose folder is {belongs!r}, not {stem!r}: "
            "a renamed or copied folder; rename it back or rerun"
        )
    return names[0]


def _from_dir(d: Path) -> Entry:
    stem = d.name
    read = read_rows(d / f"{stem}_eval.jsonl", repair=False)
    rows = list(read.rows.values())
    meta = _json(d / "scores.json")
    run = _json(d / "run.json")
    order = list(meta.get("tasks") or [])
    entry = _entry(_recorded_model(str(d), stem, run, meta), str(d), rows, order or None)
    entry.judge_audit = read_judge_audit(d)
    entry.torn = read.torn
    limit = run.get(
        "limit", (meta.get("run") or {}).get("limit") if isinstance(meta.get("run"), dict) else None
    )
    entry.limit = limit if isinstance(limit, int) else None
    return entry


def collect_runs(inputs: list[str | Path], *, notes: list[str] | None = None) -> list[Entry]:
    """One entry per model found in the inputs.

    A folder among several inputs that holds no run (``results/logs`` when a shell expands
    ``results/*``) is skipped with a note in ``notes``; when no input holds a run it is an error.
    """
    from medix_r1.leaderboard.verify import verify_submission

    entries: list[Entry] = []
    skipped: list[str] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_file() and p.suffix == ".zip":
            report = verify_submission(p)
            if not report.ok:
                raise LeaderboardError(report.summary())
            stem = report.model_dir or p.stem
            order = report.run.get("tasks")
            model = _recorded_model(str(p), stem, report.run)
            entry = _entry(model, str(p), report.rows, order if isinstance(order, list) else None)
            limit = report.run.get("limit")
            entry.limit = limit if isinstance(limit, int) else None
            entries.append(entry)
        elif p.is_dir() and (p / f"{p.name}_eval.jsonl").exists():
            entries.append(_from_dir(p))
        elif p.is_dir():
            found = sorted(d for d in p.iterdir() if d.is_dir() and (d / f"{d.name}_eval.jsonl").exists())
            if not found:
                skipped.append(f"{p} holds no run folder (<m>/<m>_eval.jsonl)")
                continue
            entries += [_from_dir(d) for d in found]
        elif not p.exists():
            raise FileNotFoundError(f"{p} does not exist")
        else:
            skipped.append(f"{p} is neither a run folder nor a submission zip")
    if not entries:
        raise LeaderboardError("; ".join(skipped) if skipped else "no inputs")
    if notes is not None:
        notes += [f"skipped {s}" for s in skipped]
    return entries


def _most_common(values: list[Any]) -> Any:
    """The most frequent value; ties go to the one seen first."""
    counts: dict[Any, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return max(counts, key=lambda v: counts[v]) if counts else None


def flag_incomparable(entries: list[Entry]) -> list[Entry]:
    """Set each entry's ``flags``: what makes it not comparable with the other runs (in place)."""
    from medix_r1.evaluation.registry import EXTRA_TASKS, PUBLISHED_TASKS

    known = {**PUBLISHED_TASKS, **EXTRA_TASKS}
    task_sets = [frozenset(e.tasks) for e in entries]
    # the usual task set; on a tie the larger one (a 1-task run never sets the standard for 17)
    common = max(set(task_sets), key=lambda ts: (task_sets.count(ts), len(ts))) if task_sets else frozenset()
    judge_sets = [tuple(e.judges) for e in entries]
    common_judges = _most_common(judge_sets)
    largest: dict[str, int] = {}
    for e in entries:
        for t, n in e.counts.items():
            largest[t] = max(largest.get(t, 0), n)
    for e in entries:
        flags: list[str] = []
        mine = frozenset(e.tasks)
        if len(entries) > 1 and mine != common:
            missing = sorted(common - mine)
            extra = sorted(mine - common)
            flags.append(
                f"other tasks: {len(mine)} vs {len(common)} in most runs"
                + (f" (missing {_few(missing)})" if missing else "")
                + (f" (extra {_few(extra)})" if extra else "")
            )
        if len(e.judges) > 1:
            flags.append(f"mixed judges: {', '.join(e.judges)}")
        elif len(entries) > 1 and tuple(e.judges) != common_judges:
            flags.append(
                f"other judge: {', '.join(e.judges) or 'none recorded'} "
                f"(most runs: {', '.join(common_judges) or 'none recorded'})"
            )
        short = []
        for t, n in e.counts.items():
            size = known[t].expected_size if t in known else None
            full = size if size is not None else largest.get(t, n)
            if n < full:
                short.append(f"{t} {n} of {full}")
        if short:
            flags.append(f"partial: {_few(short)} samples")
        if e.limit is not None:
            flags.append(f"run with --limit {e.limit}")
        if e.torn:
            flags.append(f"judgement file cut short ({e.torn} torn line(s))")
        e.flags = flags
    return entries


def _few(items: list[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(cell: Any) -> Any:
    """A CSV cell a spreadsheet will show as text, never run as a formula (numbers pass as they are).

    >>> print(csv_safe('=HYPERLINK("http://x","y")'))
    '=HYPERLINK("http://x","y")
    >>> print(csv_safe("@SUM(A1)"), csv_safe("-0.25"), csv_safe("MediX"), csv_safe(3))
    '@SUM(A1) -0.25 MediX 3
    """
    if not isinstance(cell, str) or not cell.startswith(_FORMULA_START):
        return cell
    try:
        float(cell)
        return cell
    except ValueError:
        return "'" + cell


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
    header = ["rank", "model", "overall", "overall_micro", "judge", "samples", "judge_failed", "flags"]
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
            "; ".join(e.flags),
        ]
        for t in cols:
            iv = e.intervals.get(t)
            row += [fmt(e.tasks.get(t)), fmt(iv[0]) if iv else "", fmt(iv[1]) if iv else ""]
        audit = e.judge_audit or {}
        row += [fmt(audit.get("agreement")), "" if audit.get("kappa") is None else f"{audit['kappa']:.4f}"]
        row += [audit.get("votes", "")]
        w.writerow([csv_safe(c) for c in row])
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
    heads = ["#", "model", "overall", "micro", "judge", "flags"] + cols
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
            f"<td data-v='{len(e.flags)}' class='flags'>"
            + ("<br>".join("&#9888; " + esc(f) for f in e.flags) or "-")
            + "</td>",
        ]
        cells += [cell(e.tasks.get(t), e.intervals.get(t)) for t in cols]
        body.append(("<tr class='flagged'>" if e.flags else "<tr>") + "".join(cells) + "</tr>")
    flagged = [e for e in entries if e.flags]
    warning = (
        f"<p class='warn'>&#9888; {len(flagged)} of {len(entries)} run(s) are not comparable with the rest "
        "(other tasks, judge or sample counts; see the flags column): compare their scores with care.</p>"
        if flagged
        else ""
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 6px;text-align:right}"
        "th{cursor:pointer;background:#f3f3f3}td:nth-child(2){text-align:left}small{color:#777}"
        "td.flags{text-align:left;color:#8a4b00;font-size:.85em}tr.flagged{background:#fff8e6}"
        ".warn{color:#8a4b00}</style>"
        f"</head><body><h1>{esc(title)}</h1><p>Scores in %, 95% bootstrap intervals below each task score. "
        "Overall = unweighted mean of task scores (published); micro = mean over samples. "
        "Recomputed from each run's judgement file.</p>"
        f"{warning}<table><thead><tr>{thead}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        f"<script>{_SORT_JS}</script></body></html>\n"
    )


def build_leaderboard(
    inputs: list[str | Path], site: str | Path, *, notes: list[str] | None = None
) -> list[Entry]:
    """Write ``SITE/index.html`` and ``SITE/leaderboard.csv``; returns the ranked, flagged entries."""
    site = Path(site)
    if site.exists() and not site.is_dir():
        raise LeaderboardError(
            f"-o {site} is a file: the leaderboard is a folder (index.html, leaderboard.csv)"
        )
    entries = _rank(flag_incomparable(collect_runs(inputs, notes=notes)))
    names = [e.model for e in entries]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        where = "; ".join(f"{n}: " + ", ".join(e.source for e in entries if e.model == n) for n in dup)
        raise LeaderboardError(f"model(s) appear in more than one input ({where}); give each once")
    write_text_atomic(site / "index.html", render_leaderboard_html(entries))
    write_text_atomic(site / "leaderboard.csv", render_leaderboard_csv(entries))
    return entries
