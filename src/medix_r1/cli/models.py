"""``medix-r1 models``: the built-in model names that ``--model`` and ``model.name=`` accept.

The training config's help (``medix-r1 train ... --explain``) points here (issue 17: the command it
named did not exist).
"""

from __future__ import annotations

import typer

__all__ = ["register"]


def models() -> None:
    """List the built-in model names: made offline on this machine, or short names of hub models."""
    from medix_r1.models.registry import list_builtin_models

    for m in list_builtin_models():
        where = "needs the hub" if m.builder.startswith("hub:") else "offline"
        typer.echo(f"{m.name:18s} {where:14s} {m.description}")
    typer.echo(
        "A local model folder or a hub id ('owner/name') is also accepted wherever a model is asked for."
    )


def register(app: typer.Typer) -> None:
    """Add ``models`` to the top-level command."""
    app.command("models")(models)
