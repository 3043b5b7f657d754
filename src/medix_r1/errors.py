"""The package's error tree: one base class, errors that cross processes, one "did you mean".

Every error the package raises on purpose derives from :class:`MedixError`. Subclasses also derive
from the builtin they always did (``ValueError``, ``RuntimeError``, ``ImportError``...), so a
caller's ``except ValueError`` keeps working, and the CLI can turn any ``MedixError`` into one
``error: ...`` line.

Errors must survive a pickle round trip with their message and fields: Ray (verl, EasyR1) and
``multiprocessing`` move an exception raised in a worker to the driver by pickling it. The default
``BaseException`` pickling calls ``cls(*self.args)``, which breaks for any ``__init__`` whose
parameters are not the message (``JudgeUnavailableError(endpoint, attempts, reason)``). The base
class rebuilds the object without calling ``__init__``: same class, same ``args``, same fields.

Tested over every public error of the package in ``tests/test_errors.py``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["MedixError", "did_you_mean"]


def _rebuild(cls: type[BaseException], args: tuple, state: dict[str, Any]) -> BaseException:
    """Unpickle an error without calling its ``__init__`` (see the module docstring)."""
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class MedixError(Exception):
    """Base class of every error medix-r1 raises on purpose (pickles with its fields)."""

    def __reduce__(self) -> tuple:
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def did_you_mean(
    name: str,
    choices: Iterable[str],
    *,
    n: int = 1,
    cutoff: float = 0.6,
    shown: Callable[[str], str] | None = None,
) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices`` to ``name``, or ``""`` when none is close.

    One wording for every "unknown name" message in the package (STYLE.md rule 6). ``n`` is how many
    suggestions at most, ``cutoff`` how close (``difflib``'s ratio) a choice must be; ``shown`` names a
    matched choice as the message shows it (e.g. an alias by its canonical tag; a name shown twice is
    listed once).

    >>> did_you_mean("grop_size", ["group_size", "beta"])
    "; did you mean 'group_size'?"
    >>> did_you_mean("zzz", ["group_size"])
    ''
    >>> did_you_mean("vqa_rat", ["vqa_rad", "vqa_rad2", "slake"], n=2)
    "; did you mean 'vqa_rad' or 'vqa_rad2'?"
    >>> did_you_mean("ct scn", ["ct scan", "ct"], n=2, shown=lambda c: "<CT_SCAN>")
    "; did you mean '<CT_SCAN>'?"
    """
    close = difflib.get_close_matches(name, list(choices), n=n, cutoff=cutoff)
    if shown is not None:
        close = list(dict.fromkeys(shown(c) for c in close))
    if not close:
        return ""
    return "; did you mean " + " or ".join(repr(c) for c in close) + "?"
