"""Top-level ``medix-r1 train``, ``medix-r1 quickstart`` and ``medix-r1 chat``.

Examples::

    medix-r1 train medix-r1-8b-dapo reward.judge_url=http://judge:8085/v1
    medix-r1 train my.yaml rollout.group_size=8 --show-config
    medix-r1 train medix-r1-8b-dapo --backend verl            # writes data, reward file, launch.sh; prints it
    medix-r1 train medix-r1-8b-dapo --backend verl --launch   # and runs it (needs the verl extra)
    medix-r1 train --list-presets
    medix-r1 quickstart --out runs/quickstart                 # what `make demo` runs
    medix-r1 chat --model runs/quickstart/final --image scan.png "Which organ is shown?"

Exit codes: 0 done; 1 training stopped early (judge outage, alarm) with a resumable checkpoint;
2 the config or the arguments are wrong.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

__all__ = ["register"]


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _fail(message: str, code: int = 2) -> None:
    _console(stderr=True).print(f"[bold red]error:[/] {message}", markup=True)
    raise typer.Exit(code)


def train(
    config: str = typer.Argument(None, help="A preset name (see --list-presets) or a YAML config file."),
    overrides: list[str] = typer.Argument(
        None, help="key=value overrides with dotted keys, e.g. rollout.group_size=8."
    ),
    backend: str = typer.Option(
        "trl", "--backend", help="trl (one node, CPU or GPUs) or verl (Ray, many nodes)."
    ),
    launch: bool = typer.Option(
        False, "--launch", help="verl: run the launch script instead of printing it."
    ),
    show_config: bool = typer.Option(
        False, "--show-config", help="Print the resolved config as YAML and exit."
    ),
    list_presets: bool = typer.Option(False, "--list-presets", help="List the presets and exit."),
    explain: bool = typer.Option(
        False, "--explain", help="Print every config key with its default and help, and exit."
    ),
) -> None:
    """Train a policy with the MediX-R1 composite reward (TRL GRPOTrainer, or verl across nodes)."""
    from medix_r1.training.config import ConfigError, config_reference, config_to_yaml, load_config
    from medix_r1.training.presets import get_preset, preset_names

    out = _console()
    if list_presets:
        for name in preset_names():
            preset = get_preset(name)
            out.print(
                f"[bold]{name}[/]: {preset.description}"
                + (" (differs from the published recipe)" if preset.differs else "")
            )
        return
    if explain:
        for key, default, help_text in config_reference():
            out.print(f"[bold]{key}[/] = {default}\n    {help_text}", markup=True)
        return
    if not config:
        _fail("give a preset name or a YAML config (medix-r1 train --list-presets)")
    try:
        cfg = load_config(config, overrides or [])
    except (ConfigError, FileNotFoundError) as err:
        _fail(str(err))
        return
    if show_config:
        typer.echo(config_to_yaml(cfg))
        return
    if backend == "verl":
        from medix_r1.training.verl_backend import VerlPreflightError, launch_verl, prepare_verl_run

        run = prepare_verl_run(cfg)
        out.print(
            f"verl run prepared in [bold]{run.run_dir}[/]: data/, {run.reward_config.name}, "
            f"{run.overrides_file.name}, {run.launch_script.name}; model {run.model_path}",
            highlight=False,
        )
        if not launch:
            typer.echo(run.command_line)
            return
        try:
            raise typer.Exit(launch_verl(run))
        except VerlPreflightError as err:
            from rich.markup import escape

            _fail(escape(str(err)))
    if backend != "trl":
        _fail(f"unknown backend {backend!r}; use trl or verl")
    from medix_r1.judges.errors import JudgeError
    from medix_r1.training.trl_backend import TrainingStopped, train_trl

    try:
        result = train_trl(cfg)
    except TrainingStopped as err:
        _fail(str(err), code=1)
        return
    except JudgeError as err:  # a judge refusing its configuration before any step
        _fail(str(err), code=1)
        return
    summary = json.loads((result.run_dir / "summary.json").read_text(encoding="utf-8"))
    out.print(
        f"done: {result.steps} steps in {result.seconds:.0f} s; reward {summary.get('reward_first')} -> "
        f"{summary.get('reward_last')}; policy in {result.final_dir}; report {result.run_dir / 'report.md'}"
    )


def quickstart(
    out_dir: Path = typer.Option(
        Path("runs/quickstart"), "--out", help="Run folder (metrics, plot, report, summary)."
    ),
    overrides: list[str] = typer.Argument(None, help="key=value overrides of the quickstart preset."),
) -> None:
    """Train a tiny VLM on the bundled samples, offline on a CPU, and show that it learns (make demo)."""
    from medix_r1.training.quickstart import quickstart as run_quickstart

    console = _console()
    summary = run_quickstart(
        out_dir, overrides=overrides or [], echo=lambda m: console.print(m, markup=False)
    )
    keys = ("steps", "seconds", "peak_memory_mb", "reward_first", "reward_last")
    console.print(json.dumps({k: summary.get(k) for k in keys}))
    for label in ("heldout_before", "heldout_warmstart", "heldout_after"):
        value = summary.get(label)
        if value:
            console.print(
                f"{label}: modality {value['modality']:.3f}, answer {value['answer']:.3f}, format {value['format']:.3f}"
            )
    console.print(f"targets met: {summary.get('targets_met')}")
    console.print(f"report: {out_dir / 'report.md'}  plot: {out_dir / 'reward_curves.png'}")


def chat(
    question: str = typer.Argument(..., help="The question to ask."),
    model: str = typer.Option(
        ..., "--model", help="A trained run folder (…/final), a built-in name or a hub id."
    ),
    image: Path | None = typer.Option(None, "--image", help="An image file (PNG, JPEG, DICOM)."),
    think_tag: str | None = typer.Option(
        None,
        "--think-tag",
        help="Reasoning tag the model was trained with: thinking or think (default: the training run's, "
        "else thinking).",
    ),
    max_new_tokens: int = typer.Option(512, "--max-new-tokens", min=1, help="Generation limit."),
    raw: bool = typer.Option(False, "--raw", help="Also print the raw reply."),
    as_json: bool = typer.Option(False, "--json", help="Print the parsed reply as JSON."),
) -> None:
    """Ask a trained checkpoint (or any hub VLM) a question; prints modality, reasoning and answer."""
    from medix_r1.training.chat import ask

    try:
        reply = ask(model, question, image=image, think_tag=think_tag, max_new_tokens=max_new_tokens)
    except (ValueError, OSError) as err:
        _fail(str(err))
        return
    if as_json:
        typer.echo(json.dumps(reply, ensure_ascii=False))
        return
    out = _console()
    out.print(f"[bold]modality:[/]  {reply['modality'] or '(none)'}", markup=True)
    out.print(f"[bold]reasoning:[/] {reply['reasoning'] or '(none)'}", markup=True)
    out.print(f"[bold]answer:[/]    {reply['answer'] or '(none)'}", markup=True)
    if not reply["well_formed"]:
        out.print("(the reply does not follow the <TAG><think>..</think><answer>..</answer> format)")
    if raw:
        out.print(f"[bold]raw:[/] {reply['raw']}", markup=True)


def register(app: typer.Typer) -> None:
    """Add ``train``, ``quickstart`` and ``chat`` to the top-level app."""
    app.command("train", context_settings={"allow_extra_args": False})(train)
    app.command("quickstart")(quickstart)
    app.command("chat")(chat)
