"""``medix-r1 leaderboard``: build a static leaderboard from runs, verify submission zips."""

from __future__ import annotations

from pathlib import Path

import typer

from medix_r1.cli.handler import fail

app = typer.Typer(help="Rank evaluation runs into a static page; verify submissions.", no_args_is_help=True)


@app.command("build")
def build(
    runs: list[Path] = typer.Argument(
        ..., help="Run folders (OUT/<model>), output folders or submission zips."
    ),
    site: Path = typer.Option(..., "-o", "--out", help="Folder for index.html and leaderboard.csv."),
) -> None:
    """Rank models by the published overall score into SITE/index.html and SITE/leaderboard.csv."""
    from medix_r1.leaderboard import build_leaderboard

    notes: list[str] = []
    try:
        entries = build_leaderboard(list(runs), site, notes=notes)
    except (ValueError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None
    for note in notes:
        typer.echo(f"note: {note}", err=True)
    for i, e in enumerate(entries, 1):
        overall = "n/a" if e.overall is None else f"{100 * e.overall:.2f}"
        typer.echo(
            f"{i:3d}. {e.model:40s} {overall:>7s}  ({len(e.tasks)} tasks, judge {', '.join(e.judges) or '-'})"
        )
        for flag in e.flags:
            typer.echo(f"       not comparable: {flag}")
    flagged = sum(1 for e in entries if e.flags)
    if flagged:
        typer.echo(
            f"warning: {flagged} of {len(entries)} run(s) are flagged as not comparable (flags column)"
        )
    typer.echo(f"wrote {site / 'index.html'} and {site / 'leaderboard.csv'}")


@app.command("verify")
def verify(
    zip_path: Path = typer.Argument(..., help="A submission zip."),
    tasks: str | None = typer.Option(
        None,
        "--tasks",
        help="Task list to check against (default: the submission's own, from its run.json).",
    ),
    require_all: bool = typer.Option(
        False, "--require-all", help="Reject a submission missing any task of the list."
    ),
) -> None:
    """Re-score a submission from its judgement file and check its ids, counts and archive safety."""
    from medix_r1.leaderboard import verify_submission

    expected = gradings = None
    if tasks:
        from medix_r1.evaluation import TaskConfigError, resolve_tasks

        try:
            specs = resolve_tasks(tasks)
            expected = {
                t.name: (t.expected_size if t.data_files is None else len(t.samples())) for t in specs
            }
        except TaskConfigError as exc:
            raise fail(str(exc)) from None
        gradings = {t.name: t.grading for t in specs}
    report = verify_submission(zip_path, expected=expected, gradings=gradings, require_all=require_all)
    typer.echo(report.summary())
    raise typer.Exit(0 if report.ok else 1)
