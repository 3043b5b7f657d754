"""The ``medix-r1`` command: a thin typer layer over the library (STYLE.md rule 8).

Each command group lives in its own module here and only parses arguments and calls library
functions; heavy imports happen inside the commands, so ``medix-r1 --help`` stays fast.
"""

from __future__ import annotations

import importlib

import typer

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
_COMMANDS: list[str] = ["demo", "train"]

for _module, _name in _GROUPS:
    app.add_typer(importlib.import_module(f"medix_r1.cli.{_module}").app, name=_name)
for _module in _COMMANDS:
    importlib.import_module(f"medix_r1.cli.{_module}").register(app)


def main() -> None:
    app()
