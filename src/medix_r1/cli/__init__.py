"""The ``medix-r1`` command: a thin typer layer over the library (STYLE.md rule 8).

Each command group lives in its own module here and only parses arguments and calls library
functions; heavy imports happen inside the commands, so ``medix-r1 --help`` stays fast.
"""

from __future__ import annotations

import importlib

import typer

from medix_r1.cli.handler import guard_app, print_error

app = typer.Typer(
    name="medix-r1",
    help="Train medical VLMs with the MediX-R1 composite reward, evaluate them, and show them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# (module under medix_r1.cli, group name). A group module exposes `app` (a typer.Typer).
_GROUPS: list[tuple[str, str]] = [
    ("reward", "reward"),
    ("data", "data"),
    ("eval", "eval"),
    ("leaderboard", "leaderboard"),
    ("review", "review"),
]
# Modules that add top-level commands to `app` through `register(app)`.
_COMMANDS: list[str] = ["demo", "train", "models"]

for _module, _name in _GROUPS:
    app.add_typer(importlib.import_module(f"medix_r1.cli.{_module}").app, name=_name)
for _module in _COMMANDS:
    importlib.import_module(f"medix_r1.cli.{_module}").register(app)

# Plain click help, wrapped to the terminal (80 columns included) instead of rich panels that cut
# long option names ("--tensor-paral…") and read `[verl]` in help text as markup (issue 17).
app.rich_markup_mode = None
for _module, _name in _GROUPS:
    importlib.import_module(f"medix_r1.cli.{_module}").app.rich_markup_mode = None

# One top-level handler (issue 17, point 6): every command turns our errors into `error: ...` lines
# with an exit code, never a traceback (medix_r1.cli.handler).
guard_app(app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # raised outside a command (while parsing); commands handle their own
        print_error("interrupted")
        raise SystemExit(130) from None
