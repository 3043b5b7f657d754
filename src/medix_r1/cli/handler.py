"""One place that turns an error into an ``error: ...`` line and an exit code (issue 17, point 6).

Every command of ``medix-r1`` is wrapped by :func:`guard` when the CLI is assembled
(``medix_r1.cli.__init__``), so no traceback reaches a user for an error we raise on purpose:

- any :class:`medix_r1.errors.MedixError` (every error the package raises on purpose);
- ``OSError`` (a missing, unreadable or busy file, a port in use), said with its file name;
- ``KeyboardInterrupt``: ``interrupted`` and exit 130.

Messages are printed as plain text, never through rich markup, so ``pip install 'medix-r1[verl]'``
and a file named ``[bold].jsonl`` reach the terminal as written. Exit code 2 unless the error class
says otherwise with an ``exit_code`` attribute (1 for "the work stopped", e.g. a judge outage).

>>> message_for(FileNotFoundError(2, "No such file or directory", "x.jsonl"))
'x.jsonl: No such file or directory'
>>> message_for(ValueError(""))
'ValueError'
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click
import typer

__all__ = ["guard", "fail", "message_for", "exit_code_for", "handled_errors", "print_error"]


def handled_errors() -> dict[type[BaseException], int]:
    """Error class -> default exit code for the errors the handler turns into a message.

    Every error the package raises on purpose derives from :class:`~medix_r1.errors.MedixError`;
    a class that means "the work stopped" rather than "bad input" sets ``exit_code = 1``.
    """
    from medix_r1.errors import MedixError

    return {MedixError: 2}


def message_for(exc: BaseException) -> str:
    """The one-line text of an error (an ``OSError`` says its file first)."""
    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename if exc.filename is not None else ""
        return f"{where}: {exc.strerror}" if where != "" else exc.strerror
    text = str(exc).strip()
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        text = exc.args[0]
    return text or type(exc).__name__


def exit_code_for(exc: BaseException, known: dict[type[BaseException], int] | None = None) -> int | None:
    """The exit code for an error the handler owns, ``None`` for one it lets through (a bug)."""
    if isinstance(exc, KeyboardInterrupt):
        return 130
    code = getattr(exc, "exit_code", None)
    if isinstance(code, int) and not isinstance(exc, (typer.Exit, click.ClickException)):
        return code
    known = handled_errors() if known is None else known
    best = None
    for cls, c in known.items():
        if isinstance(exc, cls) and (best is None or issubclass(cls, best[0])):
            best = (cls, c)
    if best is not None:
        return best[1]
    if isinstance(exc, OSError):
        return 2
    return None


def print_error(message: str) -> None:
    """``error: MESSAGE`` on stderr, as plain text (no markup), one line per line of the message."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: MESSAGE`` and return the :class:`typer.Exit` to raise."""
    print_error(message)
    return typer.Exit(code)


def guard(callback: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command so the errors above become a message and an exit code (signature kept)."""
    if getattr(callback, "__medix_guarded__", False):
        return callback

    @functools.wraps(callback)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except (typer.Exit, typer.Abort, click.ClickException, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - sorted below; anything unknown is re-raised
            code = exit_code_for(exc)
            if code is None:
                raise
            print_error("interrupted" if code == 130 else message_for(exc))
            sys.stderr.flush()
            raise typer.Exit(code) from None

    guarded.__medix_guarded__ = True  # type: ignore[attr-defined]
    return guarded


def guard_app(app: typer.Typer) -> None:
    """Wrap every command of ``app`` and of its sub-apps, in place."""
    for info in app.registered_commands:
        if info.callback is not None:
            info.callback = guard(info.callback)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            guard_app(group.typer_instance)
