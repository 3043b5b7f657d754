"""``medix-r1 eval``: run the 17-task evaluation with an LLM judge, list tasks, make a submission zip.

A thin layer over :mod:`medix_r1.evaluation` (STYLE.md rule 8). Credentials (API keys, PhysioNet) are
read from environment variables, never from the command line.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import typer

from medix_r1.evaluation.config import EvalConfig

app = typer.Typer(help="Evaluate a model on the MediX-R1 suite with an LLM judge.", no_args_is_help=True)


def _key_notes(candidate_env: str | None, base_url: str | None, judge_env: str, judge_url: str) -> None:
    """Say where keys go: which variable each host gets, and when one key would reach two hosts."""
    import os
    from urllib.parse import urlsplit

    both = bool(candidate_env) and candidate_env == judge_env and bool(os.environ.get(judge_env))
    if both and base_url and urlsplit(base_url).netloc != urlsplit(judge_url).netloc:
        typer.echo(
            f"warning: ${judge_env} goes to both the candidate ({urlsplit(base_url).netloc}) and the "
            f"judge ({urlsplit(judge_url).netloc}); give the judge its own --judge-api-key-env",
            err=True,
        )
    elif candidate_env and os.environ.get(candidate_env) and not os.environ.get(judge_env):
        typer.echo(
            f"note: the judge's key is read from ${judge_env} (not set), not from ${candidate_env}: "
            f"set it, or pass --judge-api-key-env {candidate_env} if the judge should get that key",
            err=True,
        )


def _offline_hint(message: str) -> str:
    """What to do when a task's data needs the hub and the hub is switched off."""
    import os

    offline = os.environ.get("HF_DATASETS_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1"
    if offline and "hub" in message.lower():
        return (
            ". The hub is off (HF_HUB_OFFLINE=1) and these tasks download their data from it: run where "
            "the hub is reachable, or try offline: --tasks mini (the bundled samples)"
        )
    return ""


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(2)


class _Progress:
    """One status line on stderr at most every two seconds (cheap; no per-sample redraw)."""

    def __init__(self) -> None:
        self.counts = {"generated": 0, "judged": 0}
        self.last = time.monotonic()

    def __call__(self, event: str) -> None:
        self.counts[event] = self.counts.get(event, 0) + 1
        now = time.monotonic()
        if now - self.last >= 2.0:
            self.last = now
            print(
                f"  generated {self.counts['generated']}, judged {self.counts['judged']}",
                file=sys.stderr,
                flush=True,
            )


def _opt(field: str, *flags: str, **kwargs: Any) -> Any:
    """A ``typer.Option`` whose default and help are the :class:`EvalConfig` field's (one source)."""
    info = EvalConfig.model_fields[field]
    default = ... if info.is_required() else info.default
    if isinstance(default, tuple):  # --phases is typed as one comma-separated string
        default = ",".join(default)
    return typer.Option(default, *flags, help=info.description, **kwargs)


# One option per EvalConfig field; names and defaults exactly as `eval run` has always had them.
_MODEL = _opt("model", "--model")
_TASKS = _opt("tasks", "--tasks")
_OUT = _opt("out", "--out")
_BACKEND = _opt("backend", "--backend")
_BASE_URL = _opt("base_url", "--base-url")
_MODEL_PATH = _opt("model_path", "--model-path")
_API_KEY_ENV = _opt("api_key_env", "--api-key-env")
_SERVE = _opt("serve", "--serve")
_TP = _opt("tensor_parallel_size", "--tensor-parallel-size", min=1)
_JUDGE_URL = _opt("judge_url", "--judge-url")
_JUDGE_MODEL = _opt("judge_model", "--judge-model")
_JUDGE_BACKEND = _opt("judge_backend", "--judge-backend")
_JUDGE_KEY = _opt("judge_api_key_env", "--judge-api-key-env")
_JUDGE_ROUNDS = _opt("judge_rounds", "--judge-rounds", min=1)
_JUDGE_REASKS = _opt("judge_reasks", "--judge-reasks", min=0)
_JUDGE_THINKING = _opt("judge_thinking", "--judge-thinking/--no-judge-thinking")
_PHASES = _opt("phases", "--phases")
_CONCURRENCY = _opt("concurrency", "--concurrency", min=1)
_LIMIT = _opt("limit", "--limit", min=1)
_SYSTEM_PROMPT = _opt("system_prompt", "--system-prompt")
_PROMPT = _opt("prompt", "--prompt")
_THINK_TAG = _opt("think_tag", "--think-tag")
_MAX_TOKENS = _opt("max_tokens", "--max-tokens", min=1)
_TIMEOUT = _opt("timeout_s", "--timeout", min=0.001)
_MAX_RETRIES = _opt("max_retries", "--max-retries", min=0)
_TOKEN_LIMIT = _opt("token_limit_param", "--token-limit-param")
_REDO = _opt("redo_changed", "--redo-changed")
_RETRY = _opt("retry_failed", "--retry-failed")
_NO_REPORT = typer.Option(False, "--no-report", help="Skip report.md / report.html / plot.")
_YES_NO = _opt("yes_no_choices", "--yes-no-choices")
_STRICT = _opt("strict_verdicts", "--strict-verdicts")
_FORCE_THINK = _opt("force_think", "--force-think")


@app.command("run")
def run(
    model: str = _MODEL,
    tasks: str = _TASKS,
    out: Path = _OUT,
    backend: str = _BACKEND,
    base_url: str | None = _BASE_URL,
    model_path: str | None = _MODEL_PATH,
    api_key_env: str = _API_KEY_ENV,
    serve: bool = _SERVE,
    tensor_parallel_size: int = _TP,
    judge_url: str | None = _JUDGE_URL,
    judge_model: str = _JUDGE_MODEL,
    judge_backend: str = _JUDGE_BACKEND,
    judge_api_key_env: str = _JUDGE_KEY,
    judge_rounds: int = _JUDGE_ROUNDS,
    judge_reasks: int = _JUDGE_REASKS,
    judge_thinking: bool = _JUDGE_THINKING,
    phases: str = _PHASES,
    concurrency: int = _CONCURRENCY,
    limit: int | None = _LIMIT,
    system_prompt: str | None = _SYSTEM_PROMPT,
    prompt: str = _PROMPT,
    think_tag: str | None = _THINK_TAG,
    max_tokens: int = _MAX_TOKENS,
    timeout_s: float = _TIMEOUT,
    max_retries: int = _MAX_RETRIES,
    token_limit_param: str = _TOKEN_LIMIT,
    redo_changed: bool = _REDO,
    retry_failed: bool = _RETRY,
    no_report: bool = _NO_REPORT,
    yes_no_choices: bool = _YES_NO,
    strict_verdicts: bool = _STRICT,
    force_think: bool = _FORCE_THINK,
) -> None:
    """Generate, judge and score (any subset of the phases; re-running resumes)."""
    flags = dict(locals())
    flags["reports"] = not flags.pop("no_report")
    config = EvalConfig.build(**flags)
    if config.judges and config.judge_backend == "openai" and config.judge_url:
        candidate_env = config.api_key_env if config.generates and config.backend == "openai" else None
        _key_notes(candidate_env, config.base_url, config.judge_api_key_env, config.judge_url)
    _print_result(_run_config(config))


def _run_config(config: EvalConfig) -> Any:
    """The library run; a run error gets the offline hint when the hub is off."""
    from medix_r1.errors import MedixError
    from medix_r1.evaluation.runner import run_configured

    try:
        return run_configured(config, progress=_Progress())
    except (MedixError, ValueError, OSError) as exc:
        raise _fail(str(exc) + _offline_hint(str(exc))) from None


def _print_result(result: Any) -> None:
    """The run's one-line summary, the score table and where the files are."""
    s = result.summary
    if s is not None:
        typer.echo(
            f"{s.samples} samples: generated {s.generated} (had {s.already_generated}), judged {s.judged} "
            f"(had {s.already_judged}), judge_failed {s.judge_failed}"
            + (f", {s.missing_generation} without a reply" if s.missing_generation else "")
            + (f", repaired {s.torn_lines_repaired} torn line(s)" if s.torn_lines_repaired else "")
            + (
                f", removed {s.duplicate_rows} duplicate row(s) (first of each id kept)"
                if s.duplicate_rows
                else ""
            )
            + (f"; {s.cpu_ms_per_call:.2f} ms client CPU per call" if s.cpu_ms_per_call else "")
        )
    if result.scores is not None and result.paths is not None:
        typer.echo(result.paths.score_txt.read_text().rstrip())
        if result.scores.missing:
            typer.echo(f"tasks without judgements: {', '.join(result.scores.missing)}")
        typer.echo(f"results in {result.paths.dir}")


@app.command("tasks")
def list_tasks(
    tasks: str = typer.Argument(
        "medix17", help="What to list: medix17, llm, vlm, mini[:DIR], names or a YAML file."
    ),
) -> None:
    """List tasks with their data source and grading."""
    from medix_r1.evaluation import TaskConfigError, resolve_tasks

    try:
        specs = resolve_tasks(tasks)
    except TaskConfigError as exc:
        raise _fail(str(exc)) from None
    for t in specs:
        source = t.path or ",".join(t.data_files or []) if not isinstance(t.data_files, dict) else "local"
        typer.echo(f"{t.name:34s} {t.group:5s} {t.grading:6s} {source}  {t.description}")


@app.command("submit")
def submit(
    run_dir: Path = typer.Argument(..., help="OUT/<model> (or OUT holding one model folder)."),
    out_dir: Path | None = typer.Option(
        None, "--out", help="Folder for the zip (default: submissions/ beside the output folder)."
    ),
    include_urls: bool = typer.Option(
        False, "--include-urls", help="Keep the candidate/judge URLs and local paths in run.json."
    ),
) -> None:
    """Zip a run folder as <id>_<model>_submission.zip (published naming)."""
    from medix_r1.evaluation import make_submission

    try:
        path = make_submission(run_dir, out_dir, include_urls=include_urls)
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        raise _fail(str(exc)) from None
    if not include_urls:
        typer.echo(
            "(run.json and scores.json went in without internal URLs; --include-urls keeps them)", err=True
        )
    typer.echo(str(path))  # last, alone on its line: scripts read it
