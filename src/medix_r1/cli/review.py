"""``medix-r1 review``: blind clinician review of evaluation runs (pairwise studies, judge audits).

A thin layer over :mod:`medix_r1.review`. A study is a SQLite file (``--out STUDY.db``) or lives in
a database named by a URL; give a URL holding credentials through an environment variable
(``--db-url-env VAR``), never on the command line.

    medix-r1 review create --pairwise results/A results/B --n 40 --seed 1 --out study.db
    medix-r1 review add-reviewer study.db --name "Dr A"      # prints the token once
    medix-r1 review serve study.db --port 8765
    medix-r1 review revoke-reviewer study.db --reviewer "Dr A"  # token refused, sessions ended
    medix-r1 review report study.db                           # study_report/report.md, .html, chart
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

app = typer.Typer(
    help="Blind clinician review of evaluation runs: pairwise studies and LLM-judge audits.",
    no_args_is_help=True,
)


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(2)


_DB_URL_HELP = (
    "Database URL (e.g. postgresql+psycopg://host/db); prefer --db-url-env for URLs with passwords."
)
_DB_URL_ENV_HELP = "Environment variable holding the database URL."


def _target(study: Path | None, db_url: str | None, db_url_env: str | None) -> str:
    given = [x for x in (study, db_url, db_url_env) if x]
    if len(given) != 1:
        raise _fail("name the study once: a STUDY.db path, --db-url URL or --db-url-env VAR")
    if db_url_env:
        value = os.environ.get(db_url_env)
        if not value:
            raise _fail(f"environment variable {db_url_env} is not set (it should hold the database URL)")
        return value
    return str(db_url or study)


def _open(study: Path | None, db_url: str | None, db_url_env: str | None, study_id: str | None):
    from medix_r1.review import ReviewStore, StudyError

    try:
        return ReviewStore.open(_target(study, db_url, db_url_env), study_id)
    except StudyError as exc:
        raise _fail(str(exc)) from None


def _tasks(tasks: str | None) -> list[str] | None:
    names = [t.strip() for t in (tasks or "").split(",") if t.strip()]
    return names or None


@app.command("create")
def create(
    pairwise: tuple[Path, Path] | None = typer.Option(
        None, "--pairwise", help="Two run folders OUT/<model> to compare blind (RUN_A RUN_B)."
    ),
    judge_audit: Path | None = typer.Option(
        None, "--judge-audit", help="One run folder whose judge verdicts clinicians check."
    ),
    tasks: str | None = typer.Option(None, "--tasks", help="Only these tasks (comma-separated names)."),
    n: int | None = typer.Option(None, "--n", help="Items to sample (default: all)."),
    seed: int | None = typer.Option(None, "--seed", help="Sampling seed (default: random, recorded)."),
    show_reasoning: bool = typer.Option(
        False, "--show-reasoning/--hide-reasoning", help="Show each answer's reasoning to reviewers."
    ),
    show_reference: bool = typer.Option(
        True, "--show-reference/--hide-reference", help="Show the reference answer to reviewers."
    ),
    images_from: str | None = typer.Option(
        None,
        "--images-from",
        help="The evaluation's --tasks value, to reload images not stored as files (parquet/hub rows).",
    ),
    out: Path | None = typer.Option(None, "--out", help="New SQLite study file (STUDY.db)."),
    db_url: str | None = typer.Option(None, "--db-url", help=_DB_URL_HELP),
    db_url_env: str | None = typer.Option(None, "--db-url-env", help=_DB_URL_ENV_HELP),
) -> None:
    """Sample a study from evaluation runs and store it."""
    from medix_r1.review import ReviewStore, StudyError, sample_judge_audit, sample_pairwise

    if (pairwise is None) == (judge_audit is None):
        raise _fail("choose one: --pairwise RUN_A RUN_B or --judge-audit RUN")
    target = _target(out, db_url, db_url_env)
    common = dict(
        tasks=_tasks(tasks),
        n=n,
        seed=seed,
        show_reasoning=show_reasoning,
        show_reference=show_reference,
        images_from=images_from,
    )
    try:
        if pairwise is not None:
            draft = sample_pairwise(pairwise[0], pairwise[1], **common)
        else:
            draft = sample_judge_audit(judge_audit, **common)
        store = ReviewStore.create(target, draft)
    except StudyError as exc:
        raise _fail(str(exc)) from None
    for note in draft.notes:
        typer.echo(f"note: {note}")
    typer.echo(store.describe())
    typer.echo(
        f"seed {draft.settings['seed']}; add reviewers with: medix-r1 review add-reviewer ... --name NAME"
    )


@app.command("add-reviewer")
def add_reviewer(
    study: Path | None = typer.Argument(None, help="The study file (or use --db-url / --db-url-env)."),
    name: str = typer.Option(..., "--name", help="The reviewer's name or initials (shown in reports)."),
    study_id: str | None = typer.Option(
        None, "--study-id", help="Which study, when a database holds several."
    ),
    db_url: str | None = typer.Option(None, "--db-url", help=_DB_URL_HELP),
    db_url_env: str | None = typer.Option(None, "--db-url-env", help=_DB_URL_ENV_HELP),
) -> None:
    """Make a reviewer and print their access token (shown this once; only a hash is kept)."""
    from medix_r1.review import StudyError

    store = _open(study, db_url, db_url_env, study_id)
    try:
        reviewer, token = store.add_reviewer(name)
    except StudyError as exc:
        raise _fail(str(exc)) from None
    typer.echo(
        f"reviewer {reviewer.name} ({reviewer.reviewer_id}); token (shown once, give it privately):", err=True
    )
    typer.echo(token)


@app.command("serve")
def serve(
    study: Path | None = typer.Argument(None, help="The study file (or use --db-url / --db-url-env)."),
    port: int = typer.Option(8765, "--port", min=1, max=65535, help="Port to listen on."),
    host: str = typer.Option(
        "127.0.0.1",
        "--host",
        help="Interface. Anything but loopback needs --tls-cert/--tls-key (or --insecure-http).",
    ),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="TLS certificate (PEM) to serve HTTPS."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="TLS private key (PEM) for --tls-cert."),
    insecure_http: bool = typer.Option(
        False,
        "--insecure-http",
        help="Allow plain HTTP on a non-loopback --host (only behind a TLS proxy).",
    ),
    study_id: str | None = typer.Option(
        None, "--study-id", help="Which study, when a database holds several."
    ),
    db_url: str | None = typer.Option(None, "--db-url", help=_DB_URL_HELP),
    db_url_env: str | None = typer.Option(None, "--db-url-env", help=_DB_URL_ENV_HELP),
) -> None:
    """Serve the reviewer page (one item at a time; reviewers sign in with their token)."""
    from medix_r1.review.app import ServeRefused, check_serve, is_loopback
    from medix_r1.review.app import serve as serve_app

    cert = str(tls_cert) if tls_cert else None
    key = str(tls_key) if tls_key else None
    try:  # before opening the study: a refused start touches nothing
        check_serve(host, tls_cert=cert, tls_key=key, insecure_http=insecure_http)
    except ServeRefused as exc:
        raise _fail(str(exc)) from None
    _check_port(host, port)
    store = _open(study, db_url, db_url_env, study_id)
    scheme = "https" if cert else "http"
    typer.echo(f"{store.describe()}\nreview page: {scheme}://{host}:{port}/  (Ctrl-C to stop)", err=True)
    if not cert and not is_loopback(host):
        typer.echo("warning: plain HTTP on a network interface (--insecure-http)", err=True)
    serve_app(store, host=host, port=port, tls_cert=cert, tls_key=key, insecure_http=insecure_http)


def _check_port(host: str, port: int) -> None:
    """Say plainly when the port is taken, before the server starts."""
    from medix_r1.cli.ports import port_problem

    problem = port_problem(host, port)
    if problem:
        raise _fail(problem)


@app.command("revoke-reviewer")
def revoke_reviewer(
    study: Path | None = typer.Argument(None, help="The study file (or use --db-url / --db-url-env)."),
    reviewer: str = typer.Option(
        ..., "--reviewer", help="The reviewer's id or name (as `medix-r1 review status` lists them)."
    ),
    study_id: str | None = typer.Option(
        None, "--study-id", help="Which study, when a database holds several."
    ),
    db_url: str | None = typer.Option(None, "--db-url", help=_DB_URL_HELP),
    db_url_env: str | None = typer.Option(None, "--db-url-env", help=_DB_URL_ENV_HELP),
) -> None:
    """Refuse a reviewer's token from now on and sign them out everywhere (their votes are kept)."""
    from medix_r1.review import StudyError

    store = _open(study, db_url, db_url_env, study_id)
    try:
        found = store.find_reviewer(reviewer)
        store.revoke_reviewer(found.reviewer_id)
    except StudyError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"revoked reviewer {found.name} ({found.reviewer_id}); their votes are kept")


@app.command("report")
def report(
    study: Path | None = typer.Argument(None, help="The study file (or use --db-url / --db-url-env)."),
    out: Path | None = typer.Option(
        None, "--out", help="Report folder (default: STUDY_report/ beside the file)."
    ),
    write_run: bool = typer.Option(
        True,
        "--write-run/--no-write-run",
        help="Judge audits: write judge_audit.json into the audited run folder and redraw its report.",
    ),
    study_id: str | None = typer.Option(
        None, "--study-id", help="Which study, when a database holds several."
    ),
    db_url: str | None = typer.Option(None, "--db-url", help=_DB_URL_HELP),
    db_url_env: str | None = typer.Option(None, "--db-url-env", help=_DB_URL_ENV_HELP),
) -> None:
    """Win/tie/loss rates with intervals, agreement, and for audits judge-vs-clinician agreement."""
    from medix_r1.review.report import write_report

    store = _open(study, db_url, db_url_env, study_id)
    if out is None:
        if study is None:
            raise _fail("a study in a database needs --out for its report folder")
        out = study.with_name(f"{study.stem}_report")
    payload = write_report(store, out, write_run=write_run)
    typer.echo((out / "report.md").read_text(encoding="utf-8").rstrip())
    typer.echo("\nwrote " + ", ".join(payload["written"]))


@app.command("status")
def status(
    study: Path | None = typer.Argument(None, help="The study file (or use --db-url / --db-url-env)."),
    study_id: str | None = typer.Option(
        None, "--study-id", help="Which study, when a database holds several."
    ),
    db_url: str | None = typer.Option(None, "--db-url", help=_DB_URL_HELP),
    db_url_env: str | None = typer.Option(None, "--db-url-env", help=_DB_URL_ENV_HELP),
) -> None:
    """Items, reviewers and how far each has got (no votes or identities shown)."""
    store = _open(study, db_url, db_url_env, study_id)
    typer.echo(store.describe())
    for r in store.reviewers():
        done, total = store.progress(r.reviewer_id)
        revoked = "  (revoked)" if store.is_revoked(r.reviewer_id) else ""
        typer.echo(f"  {r.name:24s} {r.reviewer_id}  {done}/{total}{revoked}")
