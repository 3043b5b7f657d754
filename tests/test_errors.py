"""The error tree's base class: errors rebuild across a pickle round trip with message and fields."""

from __future__ import annotations

import pickle

import pytest

from medix_r1.errors import MedixError, did_you_mean


class FieldError(MedixError, ValueError):
    """An error whose __init__ takes fields, not the message (the case BaseException pickling breaks)."""

    def __init__(self, path: str, row: int) -> None:
        self.path, self.row = path, row
        super().__init__(f"{path}: row {row} is bad")


class NeedsPackage(MedixError, ImportError):
    """ImportError has its own C layout: the base class must combine with it."""


@pytest.mark.parametrize(
    "error",
    [FieldError("a.jsonl", 3), NeedsPackage("install x"), MedixError("plain")],
    ids=["fields", "import-error", "base"],
)
def test_round_trip_keeps_class_message_and_fields(error: MedixError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.__dict__ == error.__dict__


def test_builtin_base_still_catches() -> None:
    with pytest.raises(ValueError, match="row 3"):
        raise FieldError("a.jsonl", 3)


def test_did_you_mean_wording() -> None:
    assert did_you_mean("bta", ["beta", "gamma"]) == "; did you mean 'beta'?"
    assert did_you_mean("zzz", ["beta"]) == ""
