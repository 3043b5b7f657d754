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
from typing import Any

import typer
from rich.markup import escape

__all__ = ["register"]


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _fail(message: str, code: int = 2) -> None:
    from rich.markup import escape

    # the message is text, not markup: `pip install 'medix-r1[verl]'` must reach the user whole
    _console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", markup=True)
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
    out = _console()
    if list_presets or explain:
        _print_reference(out, presets=list_presets)
        return
    if not config:
        _fail("give a preset name or a YAML config (medix-r1 train --list-presets)")
    from medix_r1.training.config import ConfigError, config_to_yaml
    from medix_r1.training.config_loading import load_config

    try:
        cfg = load_config(config, overrides or [])
    except (ConfigError, FileNotFoundError) as err:
        _fail(str(err))
        return
    if show_config:
        typer.echo(config_to_yaml(cfg))
        return
    if backend == "verl":
        _train_verl(out, cfg, launch)
        return
    if backend != "trl":
        _fail(f"unknown backend {backend!r}; use trl or verl")
    _train_trl(out, cfg)


def _print_reference(out: Any, *, presets: bool) -> None:
    """``--list-presets`` (presets) or ``--explain`` (every config key)."""
    from medix_r1.training.config import config_reference
    from medix_r1.training.presets import get_preset, preset_names

    if presets:
        for name in preset_names():
            preset = get_preset(name)
            out.print(
                f"[bold]{escape(name)}[/]: {escape(preset.description)}"
                + (" (differs from the published recipe)" if preset.differs else "")
            )
        return
    for key, default, help_text in config_reference():
        out.print(f"[bold]{escape(key)}[/] = {escape(str(default))}\n    {escape(help_text)}", markup=True)


def _train_verl(out: Any, cfg: Any, launch: bool) -> None:
    """Prepare a verl run folder; print its command line, or run it with ``--launch``."""
    from medix_r1.training.verl_backend import VerlPreflightError, launch_verl, prepare_verl_run

    run = prepare_verl_run(cfg)
    out.print(
        f"verl run prepared in [bold]{escape(str(run.run_dir))}[/]: data/, {escape(run.reward_config.name)}, "
        f"{escape(run.overrides_file.name)}, {escape(run.launch_script.name)}; model {escape(str(run.model_path))}",
        highlight=False,
    )
    if not launch:
        typer.echo(run.command_line)
        return
    try:
        raise typer.Exit(launch_verl(run))
    except VerlPreflightError as err:
        _fail(str(err))  # _fail escapes markup itself


def _train_trl(out: Any, cfg: Any) -> None:
    """Check the data, then train with TRL holding the run folder's lock (one writer per folder)."""
    from medix_r1.evaluation.files import RunLock
    from medix_r1.judges.errors import JudgeError
    from medix_r1.training.trl_backend import TrainingStopped, train_trl

    _check_data(cfg)  # every data problem before the model loads (seconds to minutes)
    try:
        with RunLock(cfg.output_dir, hint="another checkpoint.output_dir=FOLDER"):
            result = train_trl(cfg)
    except TrainingStopped as err:
        _fail(str(err), code=1)
        return
    except JudgeError as err:  # a judge refusing its configuration before any step
        _fail(str(err), code=1)
        return
    except OSError as err:  # a model that cannot be loaded: say what to do offline
        _fail(str(err) + _offline_hint(cfg.model.name))
        return
    summary = json.loads((result.run_dir / "summary.json").read_text(encoding="utf-8"))
    out.print(
        f"done: {result.steps} steps in {result.seconds:.0f} s; reward {summary.get('reward_first')} -> "
        f"{summary.get('reward_last')}; policy in {result.final_dir}; report {result.run_dir / 'report.md'}",
        markup=False,
    )


def _check_data(cfg) -> None:
    """Open and check the training (and validation) data as training will, before any model loads."""
    from medix_r1.data.io import DataSourceError
    from medix_r1.data.schema import RecordError
    from medix_r1.training.dataset import load_training_records

    checks = [("data.train", cfg.data.train, cfg.data.train_split)]
    if cfg.data.eval and cfg.validation.every:
        checks.append(("data.eval", cfg.data.eval, cfg.data.eval_split))
    for key, source, split in checks:
        try:
            records = load_training_records(source, split=split, limit=1, seed=cfg.data.seed)
        except RecordError as err:
            _fail(f"{key}: {err} (run `medix-r1 data validate {source}` to list every problem)")
        except (DataSourceError, OSError, ValueError) as err:
            _fail(f"{key}={source}: {err}" + _offline_hint(str(source), what="dataset"))
        else:
            if not records:
                _fail(f"{key}={source} holds no records")


def _offline_hint(name: str, what: str = "model") -> str:
    """What to do when a hub-only name is used with the hub switched off (the default here)."""
    import os

    offline = any(
        os.environ.get(v) == "1" for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
    )
    if not offline or "/" not in name or os.path.exists(name):
        return ""
    return (
        f". {name} is a hub id and the hub is off (HF_HUB_OFFLINE=1): download the {what} on a machine "
        "with the hub and pass its local folder, or try offline: medix-r1 quickstart (or model.name=tiny-qwen2-vl "
        "data.train=samples)"
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
    console.print(json.dumps({k: summary.get(k) for k in keys}), markup=False)
    for label in ("heldout_before", "heldout_warmstart", "heldout_after"):
        value = summary.get(label)
        if value:
            console.print(
                f"{label}: modality {value['modality']:.3f}, answer {value['answer']:.3f}, format {value['format']:.3f}"
            )
    console.print(f"targets met: {summary.get('targets_met')}", markup=False)
    console.print(f"report: {out_dir / 'report.md'}  plot: {out_dir / 'reward_curves.png'}", markup=False)
    console.print("\n" + "\n".join(plain_summary(summary, out_dir)), markup=False)


def _share(x: Any) -> str:
    return "n/a" if not isinstance(x, (int, float)) else f"{100 * x:.0f}%"


def plain_summary(summary: dict[str, Any], out_dir: Path) -> list[str]:
    """The quickstart's end, in plain words: what it trained, what improved, where the files are.

    >>> lines = plain_summary({"model": "tiny-qwen2-vl", "steps": 100, "seconds": 600, "reward_first": 0.3,
    ...     "reward_last": 0.5, "heldout_before": {"modality": 0.1, "answer": 0.0, "format": 0.0},
    ...     "heldout_after": {"modality": 0.4, "answer": 0.1, "format": 1.0},
    ...     "targets_met": {"time": True, "modality_after": False}}, Path("runs/q"))
    >>> print("\\n".join(lines))  # doctest: +NORMALIZE_WHITESPACE
    In plain words:
    - trained: tiny-qwen2-vl, 100 reinforcement-learning steps on the bundled sample images, in 10.0 min.
    - reward (0 to 1, higher is better): 0.30 at the start, 0.50 at the end.
    - on held-out images it had not seen: modality tag right 10% -> 40%, answer right 0% -> 10%,
      replies in the expected format 0% -> 100%.
    - targets: 1 of 2 met; not met: held-out modality tag right at least 55%.
    - files: runs/q/report.md (the full report), runs/q/reward_curves.png (curves), runs/q/final (the
      trained model: medix-r1 chat --model runs/q/final --image examples/images/chest-xray.png "Which modality is this?").
    """
    from medix_r1.training.quickstart import QUICKSTART_TARGETS as t

    words = {
        "time": f"finished within {t['max_seconds'] / 60:.0f} min",
        "memory": f"peak memory under {t['max_peak_memory_mb']} MB",
        "reward_rise": f"reward rose by at least {t['min_reward_rise']}",
        "modality_after": f"held-out modality tag right at least {_share(t['min_modality_after'])}",
        "modality_above_majority": "held-out modality tag right at least "
        f"{_share(t['min_modality_above_majority'])} more often than always naming the most common tag",
        "train_modality_after": "modality tag right on the training images at least "
        f"{_share(t['min_train_modality_after'])}",
    }
    seconds = summary.get("seconds")
    took = f"{seconds / 60:.1f} min" if isinstance(seconds, (int, float)) else "an unknown time"
    rf, rl = summary.get("reward_first"), summary.get("reward_last")
    reward = (
        f"{rf:.2f} at the start, {rl:.2f} at the end"
        if isinstance(rf, (int, float)) and isinstance(rl, (int, float))
        else "not recorded"
    )
    before, after = summary.get("heldout_before") or {}, summary.get("heldout_after") or {}
    met = summary.get("targets_met") or {}
    missed = [words.get(k, k) for k, ok in met.items() if not ok]
    final = out_dir / "final"
    lines = [
        "In plain words:",
        f"- trained: {summary.get('model', 'the policy')}, {summary.get('steps', '?')} reinforcement-learning "
        f"steps on the bundled sample images, in {took}.",
        f"- reward (0 to 1, higher is better): {reward}.",
        "- on held-out images it had not seen: "
        f"modality tag right {_share(before.get('modality'))} -> {_share(after.get('modality'))}, "
        f"answer right {_share(before.get('answer'))} -> {_share(after.get('answer'))}, "
        f"replies in the expected format {_share(before.get('format'))} -> {_share(after.get('format'))}.",
        f"- targets: {sum(1 for ok in met.values() if ok)} of {len(met)} met"
        + (f"; not met: {', '.join(missed)}." if missed else "."),
        f"- files: {out_dir / 'report.md'} (the full report), {out_dir / 'reward_curves.png'} (curves), "
        f"{final} (the trained model: medix-r1 chat --model {final} --image examples/images/chest-xray.png "
        '"Which modality is this?").',
    ]
    return lines


def chat(
    question: str = typer.Argument(..., help="The question to ask."),
    model: str = typer.Option(
        ..., "--model", help="A trained run folder (runs/NAME/final), a built-in name or a hub id."
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
    from medix_r1.models.question import ask

    if _looks_local(model) and not Path(model).expanduser().exists():
        _fail(
            f"--model {model}: no such folder (a trained run's checkpoint is RUN/final, e.g. runs/quickstart/final)"
        )
    try:
        reply = ask(model, question, image=image, think_tag=think_tag, max_new_tokens=max_new_tokens)
    except (ValueError, OSError) as err:
        hint = ""
        if "/" in model and not Path(model).expanduser().exists():  # org/name, or a folder not made yet
            hint = (
                f"; nor is there a local folder {model} here (for the quickstart's model, run "
                "`medix-r1 quickstart --out runs/quickstart` first)"
            )
        _fail(str(err) + hint)
        return
    if as_json:
        typer.echo(json.dumps(reply, ensure_ascii=False))
        return
    out = _console()
    out.print(f"[bold]modality:[/]  {escape(reply['modality'] or '(none)')}", markup=True)
    out.print(f"[bold]reasoning:[/] {escape(reply['reasoning'] or '(none)')}", markup=True)
    out.print(f"[bold]answer:[/]    {escape(reply['answer'] or '(none)')}", markup=True)
    if not reply["well_formed"]:
        out.print(
            "(the reply does not follow the <TAG><think>..</think><answer>..</answer> format)", markup=False
        )
    if raw:
        out.print(f"[bold]raw:[/] {escape(reply['raw'])}", markup=True)


def _looks_local(name: str) -> bool:
    """A path rather than a hub id: starts like one, has more parts than ``org/name``, or its first
    part is a folder here (``runs/x``)."""
    if name.startswith((".", "/", "~")) or "\\" in name or name.count("/") >= 2:
        return True
    return "/" in name and Path(name.split("/", 1)[0]).is_dir()


def register(app: typer.Typer) -> None:
    """Add ``train``, ``quickstart`` and ``chat`` to the top-level app."""
    app.command("train", context_settings={"allow_extra_args": False})(train)
    app.command("quickstart")(quickstart)
    app.command("chat")(chat)
