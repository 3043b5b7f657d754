"""``medix-r1 reward ...``: score rollout files with the composite reward, list presets."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(help="Score rollouts with the MediX-R1 composite reward.", no_args_is_help=True)


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _opt(field: str, *flags: str, **kwargs: Any) -> Any:
    """A ``typer.Option`` whose default and help are the :class:`RewardConfig` field's (one source)."""
    from medix_r1.rewards.config import RewardConfig

    info = RewardConfig.model_fields[field]
    options = {"help": info.description, **kwargs}
    return typer.Option(options.pop("default", info.default), *flags, **options)


@app.command("score")
def score(
    input_path: Path = typer.Argument(
        ..., help="JSONL rows with 'response' and 'solution' ('<TAG> answer')."
    ),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the scored rows (JSONL)."),
    # One option per RewardConfig field, named as that field (flag names as `reward score` has always had them).
    preset: str = _opt("preset", "--preset"),
    judge: str | None = _opt(
        "judge",
        "--judge",
        default=None,  # openai when --judge-url is given; no silent default to a judge that is not there
        help="Judge backend: openai (default when --judge-url is given), transformers, or fake (tests, demos).",
    ),
    judge_url: str | None = _opt("judge_url", "--judge-url"),
    judge_model: str = _opt("judge_model", "--judge-model"),
    judge_concurrency: int = _opt("judge_concurrency", "--judge-concurrency"),
    judge_timeout_s: float = _opt("judge_timeout_s", "--judge-timeout"),
    judge_retries: int = _opt("judge_retries", "--judge-retries"),
    judge_deadline_s: float = _opt("judge_deadline_s", "--judge-deadline"),
    judge_cache: Path | None = _opt("judge_cache", "--judge-cache"),
    judge_token_limit_param: str = _opt("judge_token_limit_param", "--judge-token-limit-param"),
    embedding_model: str = _opt("embedding_model", "--embedding-model"),
    on_judge_error: str = _opt("on_judge_error", "--on-judge-error"),
    summary_json: Path | None = typer.Option(None, help="Also write the run summary here (JSON)."),
    chunk_size: int = typer.Option(
        512, help="Rows scored (and written) per batch; --judge-deadline applies to each batch."
    ),
) -> None:
    """Score INPUT_PATH into --output, adding overall, format, accuracy_llm, accuracy_embed, modality."""
    if chunk_size < 1:
        _fail(f"--chunk-size must be at least 1, got {chunk_size}", 2)
    if judge is None:
        if judge_url is None:
            _fail("give the judge: --judge-url URL (an OpenAI-compatible server) or --judge fake", 2)
        judge = "openai"
    reward = _reward_from_flags(
        preset=preset,
        judge=judge,
        judge_url=judge_url,
        judge_model=judge_model,
        judge_concurrency=judge_concurrency,
        judge_timeout_s=judge_timeout_s,
        judge_retries=judge_retries,
        judge_deadline_s=judge_deadline_s,
        judge_cache=judge_cache,
        judge_token_limit_param=judge_token_limit_param,
        embedding_model=embedding_model,
        on_judge_error=on_judge_error,
    )
    summary = _score_with_progress(input_path, output, reward, chunk_size)
    data = summary.as_dict()
    _print_summary(data)
    if summary_json is not None:
        summary_json.parent.mkdir(parents=True, exist_ok=True)
        summary_json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _reward_from_flags(**fields: object) -> object:
    """The reward a RewardConfig of these fields builds (a refused value is one message, exit 2)."""
    from pydantic import ValidationError

    from medix_r1.rewards.config import RewardConfig, build_reward_from_config

    try:
        config = RewardConfig(**fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
        _fail(problems, 2)
    return build_reward_from_config(config)


def _score_with_progress(input_path: Path, output: Path, reward: object, chunk_size: int) -> object:
    """``score_file`` with a progress bar on a terminal; its errors as messages and exit codes."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from medix_r1.embedders import EmbedderLoadError
    from medix_r1.judges import JudgeError
    from medix_r1.rewards.scoring import RolloutFileError, partial_path, score_file

    console = Console(stderr=True)
    progress = Progress(
        TextColumn("scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    task = progress.add_task("score", total=None)
    try:
        with progress:
            return score_file(
                input_path,
                output,
                reward,
                chunk_size=chunk_size,
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    except (RolloutFileError, EmbedderLoadError) as exc:
        _fail(str(exc), 2)
    except JudgeError as exc:
        _fail(
            f"{exc} Rows scored before the failure are in {partial_path(output)} ({output} is left as it "
            "was); run the same command again to resume from them. To leave the judge component "
            "unscored instead of stopping, pass --on-judge-error skip.",
            3,
        )
    except OSError as exc:
        _fail(f"{exc.filename or output}: {exc.strerror}", 2)
    raise AssertionError("unreachable")  # every branch above returns or exits


def _print_summary(data: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="reward summary", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in data.items():
        if key == "means":
            continue
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    for key, value in data["means"].items():
        table.add_row(f"mean {key}", "unscored" if value is None else f"{value:.4f}")
    Console(file=sys.stdout).print(table)


@app.command("presets")
def presets() -> None:
    """List reward presets, their weights, and how each differs from the published reward."""
    from rich.console import Console
    from rich.table import Table

    from medix_r1.rewards.presets import PRESETS

    table = Table(title="reward presets")
    for column in ("preset", "tags", "weights", "embedding", "differs from published"):
        table.add_column(column)
    for p in PRESETS.values():
        weights = ", ".join(f"{n} {w:.4g}" for n, w in p.weights)
        embed = f">= {p.embed_threshold} -> 1" if p.embed_binary else "cosine in [0, 1]"
        table.add_row(p.name, f"<{p.fmt.think_tag}>", weights, embed, p.differs or "no (exact)")
    Console().print(table)


@app.command("demo")
def demo(
    embedding_model: str = typer.Option(
        "minilm", help="Embedder for the similarity reward (offline MiniLM by default)."
    ),
) -> None:
    """Score the bundled example rollouts offline and print every component (fake judge, real embedder)."""
    from importlib.resources import files

    from rich.console import Console
    from rich.table import Table

    from medix_r1.rewards.config import RewardConfig, build_reward_from_config
    from medix_r1.rewards.scoring import read_rollouts

    path = Path(str(files("medix_r1") / "assets" / "examples" / "rollouts.jsonl"))
    rows = read_rollouts(path)
    reward = build_reward_from_config(RewardConfig(judge="fake", embedding_model=embedding_model))
    results = reward.score([r["response"] for r in rows], [r["solution"] for r in rows])
    console = Console()
    console.print(
        "[bold]medix-r1 reward demo[/bold]: preset medix-r1 (published weights); judge = the offline "
        f"[italic]fake[/italic] judge (word match, a stand-in for an LLM); embedder = {embedding_model}."
    )
    table = Table(show_lines=False)
    for column in ("id", "overall", "format", "accuracy_llm", "accuracy_embed", "modality"):
        table.add_column(column, justify="left" if column == "id" else "right")
    for row, result in zip(rows, results, strict=True):
        table.add_row(
            row["id"],
            *(
                f"{result[k]:.4f}"
                for k in ("overall", "format", "accuracy_llm", "accuracy_embed", "modality")
            ),
        )
    console.print(table)
    console.print(f"source: {path}")
