"""Human-readable reports of one run: ``report.md``, ``report.html`` and ``scores_by_task.png``.

All three are rendered from the ``scores.json`` payload, so a report can be rebuilt from the files
alone. matplotlib is imported only here, and only when the plot is drawn.

When clinicians have audited the judge on this run (``medix-r1 review report`` of a judge audit writes
``judge_audit.json`` into the run folder, issue 7), the judge-agreement figure is shown next to the
score.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from medix_r1.files import atomic_path, write_text_atomic

__all__ = [
    "render_markdown",
    "render_html",
    "plot_scores",
    "write_reports",
    "JUDGE_AUDIT_FILE",
    "read_judge_audit",
    "format_judge_agreement",
]

#: Written into a run folder by ``medix-r1 review report`` for a judge audit of that run.
JUDGE_AUDIT_FILE = "judge_audit.json"


def read_judge_audit(directory: Path) -> dict[str, Any] | None:
    """The run's clinician audit of its judge (``judge_audit.json``), or ``None`` when there is none."""
    path = Path(directory) / JUDGE_AUDIT_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"{path}: not a judge audit summary ({exc}); rerun `medix-r1 review report`"
        ) from None
    return data if isinstance(data, dict) else None


def format_judge_agreement(audit: dict[str, Any]) -> str:
    """One line for the judge-agreement figure.

    >>> format_judge_agreement({"agreement": 0.875, "kappa": 0.7778, "votes": 8, "reviewers": 2})
    '87.5% of 8 clinician votes agree with the judge (kappa 0.78, 2 reviewers)'
    """
    agreement, kappa = audit.get("agreement"), audit.get("kappa")
    pct = "n/a" if agreement is None else f"{100 * agreement:.1f}%"
    k = "n/a" if kappa is None else f"{kappa:.2f}"
    return (
        f"{pct} of {audit.get('votes', 0)} clinician votes agree with the judge "
        f"(kappa {k}, {audit.get('reviewers', 0)} reviewers)"
    )


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}"


def _interval(iv: list[float] | None) -> str:
    return "n/a" if not iv else f"{100 * iv[0]:.1f}-{100 * iv[1]:.1f}"


def _rows(payload: dict[str, Any]) -> list[list[str]]:
    out = []
    for name, d in payload["details"].items():
        out.append(
            [
                name,
                _pct(d["score"]),
                _interval(payload["intervals"].get(name)),
                str(d["samples"]),
                str(d["judged"]),
                str(d["failed"]),
                d["grading"],
                d["modality"],
            ]
        )
    return out


_HEADER = ["task", "score %", "95% CI", "samples", "judged", "judge_failed", "grading", "input"]


def _summary_lines(payload: dict[str, Any]) -> list[tuple[str, str]]:
    judges = ", ".join(payload.get("judge_models") or []) or "n/a"
    hashes = ", ".join(payload.get("judge_prompt_hashes") or []) or "n/a"
    lines = [
        ("Overall (macro, published)", _pct(payload["overall"])),
        ("Overall (micro, per sample)", _pct(payload["overall_micro"])),
        ("Text tasks average", _pct(payload["text_average"])),
        ("Image tasks average", _pct(payload["image_average"])),
        ("Judge failures (not scored)", str(payload.get("judge_failed", 0))),
        ("Judge model", judges),
        ("Judge prompt hash", hashes),
    ]
    if payload.get("missing"):
        lines.append(("Tasks without scores", ", ".join(payload["missing"])))
    if payload.get("judge_audit"):
        lines.insert(1, ("Judge agreement with clinicians", format_judge_agreement(payload["judge_audit"])))
    return lines


def render_markdown(payload: dict[str, Any]) -> str:
    lines = [f"# Evaluation report: {payload.get('model', '?')}", ""]
    lines += [f"- **{k}**: {v}" for k, v in _summary_lines(payload)]
    lines += ["", "| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in _rows(payload)]
    lines += [
        "",
        "Scores are means of judged samples (binary: majority of three judge rounds; report tasks: mean "
        "0-5 / 5). Intervals: percentile bootstrap of the mean, 1000 resamples, seed 0. "
        "Samples the judge could not grade are counted as judge_failed and left out of the means.",
        "",
    ]
    return "\n".join(lines)


def render_html(payload: dict[str, Any]) -> str:
    esc = html.escape
    summary = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in _summary_lines(payload))
    head = "".join(f"<th>{esc(h)}</th>" for h in _HEADER)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in _rows(payload))
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Evaluation report: {esc(str(payload.get('model', '?')))}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>"
        f"<h1>Evaluation report: {esc(str(payload.get('model', '?')))}</h1>"
        f"<table>{summary}</table><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        "<img src='scores_by_task.png' alt='scores by task'></body></html>\n"
    )


def plot_scores(payload: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(payload["details"])
    scores = [100 * (payload["details"][n]["score"] or 0.0) for n in names]
    lows, highs = [], []
    for n, s in zip(names, scores, strict=False):
        iv = payload["intervals"].get(n)
        lows.append(s - 100 * iv[0] if iv else 0.0)
        highs.append(100 * iv[1] - s if iv else 0.0)
    colors = ["#4c72b0" if payload["details"][n]["modality"] == "text" else "#dd8452" for n in names]
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(names) + 2), 4.5))
    ax.bar(range(len(names)), scores, yerr=[lows, highs], color=colors, capsize=3)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("score % (95% CI)")
    overall = payload.get("overall")
    if overall is not None:
        ax.axhline(
            100 * overall, color="k", linestyle="--", linewidth=1, label=f"overall {100 * overall:.1f}"
        )
        ax.legend(loc="upper right", fontsize=8)
    ax.set_title(f"{payload.get('model', '')} (blue: text, orange: image)")
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100)
    finally:
        plt.close(fig)


def write_reports(directory: Path, payload: dict[str, Any]) -> None:
    directory = Path(directory)
    audit = read_judge_audit(directory)
    if audit is not None and "judge_audit" not in payload:
        payload = {**payload, "judge_audit": audit}
    write_text_atomic(directory / "report.md", render_markdown(payload))
    write_text_atomic(directory / "report.html", render_html(payload))
    plot_scores(payload, directory / "scores_by_task.png")
