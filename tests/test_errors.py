"""The error tree: every public error of the package crosses processes with its class, message and fields.

Ray (verl, EasyR1) and ``multiprocessing`` move an exception raised in a worker to the driver by
pickling it; an error that cannot be rebuilt arrives as ``ray.exceptions.UnserializableException``
with our message only as text (issue 13). The classes are discovered by importing every module of
the package, so a new error class is covered without editing this file.
"""

from __future__ import annotations

import importlib
import inspect
import multiprocessing
import pickle
import pkgutil
import typing
from pathlib import Path

import pytest

import medix_r1
from medix_r1.errors import MedixError, did_you_mean


class FieldError(MedixError, ValueError):
    """An error whose __init__ takes fields, not the message (the case BaseException pickling breaks)."""

    def __init__(self, path: str, row: int) -> None:
        self.path, self.row = path, row
        super().__init__(f"{path}: row {row} is bad")


class NeedsPackage(MedixError, ImportError):
    """ImportError has its own C layout: the base class must combine with it."""


# Modules that need an optional extra this environment may lack are skipped, not failed: the
# classes they define are still checked wherever the extra is installed (CI installs them all).
_OPTIONAL = ("gradio", "playwright", "vllm", "verl", "llama_cpp")


def _package_errors() -> list[type[MedixError]]:
    for info in pkgutil.walk_packages(medix_r1.__path__, prefix="medix_r1."):
        try:
            importlib.import_module(info.name)
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            if getattr(exc, "name", None) and exc.name.split(".")[0] in _OPTIONAL:
                continue
            raise

    def walk(cls: type) -> list[type]:
        found = []
        for sub in cls.__subclasses__():
            found.append(sub)
            found.extend(walk(sub))
        return found

    errors = {
        cls
        for cls in walk(MedixError)
        if cls.__module__.startswith("medix_r1.") and not cls.__name__.startswith("_")
    }
    return sorted(errors, key=lambda c: (c.__module__, c.__qualname__))


PACKAGE_ERRORS = _package_errors()

# A value for each parameter type an error's __init__ takes; distinct values, so a field rebuilt
# from the wrong argument is caught.
_SAMPLES: dict[object, object] = {
    str: "sample text",
    int: 7,
    float: 2.5,
    Path: Path("runs/x.jsonl"),
    bool: True,
}


def _sample(name: str, annotation: object) -> object:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        annotation = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (list, tuple, set):
        return origin([f"{name}-1", f"{name}-2"])
    if origin is dict:
        return {f"{name}": 1}
    return _SAMPLES.get(annotation, f"{name} value")


def _instance(cls: type[MedixError]) -> MedixError:
    """An instance built through the class's own ``__init__`` with a sample for each parameter."""
    if "__init__" not in {k for c in cls.__mro__ if c.__module__.startswith("medix_r1") for k in vars(c)}:
        return cls(f"{cls.__name__}: something went wrong in row 3")
    hints = typing.get_type_hints(cls.__init__)
    args, kwargs = [], {}
    for param in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        value = _sample(param.name, hints.get(param.name, str))
        if param.kind is param.KEYWORD_ONLY:
            kwargs[param.name] = value
        else:
            args.append(value)
    return cls(*args, **kwargs)


def test_every_public_error_derives_from_medix_error() -> None:
    # The conversion of issue 13: the classes that existed then, all found by the walk.
    names = {c.__name__ for c in PACKAGE_ERRORS}
    expected = {
        "JudgeError", "JudgeUnavailableError", "JudgeConfigError", "JudgeDeadlineError",
        "EvalRunError", "StaleResultsError", "UnknownTaskError", "TaskConfigError",
        "TrainingStopped", "ConfigError", "UnknownModalityError", "StudyError", "DuplicateVoteError",
        "RewardInputError", "RolloutFileError", "MissingExtraError", "ProcessorLoadError",
        "ImageProblem", "DicomDecodeError", "RecordError", "DataSourceError", "UploadError",
        "AnswerError", "UnsafeArchiveError",
        # issue 15: the chat clients' errors (the judge's three are the judge role's)
        "ChatError", "ChatUnavailableError", "ChatRejectedError", "UnknownBackendError",
    }  # fmt: skip
    assert expected <= names, f"not found by the walk: {sorted(expected - names)}"


@pytest.mark.parametrize("cls", PACKAGE_ERRORS, ids=lambda c: c.__name__)
def test_package_error_round_trip(cls: type[MedixError]) -> None:
    error = _instance(cls)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert str(copy) == str(error) and copy.args == error.args
    assert copy.__dict__ == error.__dict__
    # Still caught by the builtin it always derived from.
    builtin = next(b for b in cls.__mro__ if b.__module__ == "builtins" and b is not object)
    assert isinstance(copy, builtin) and builtin is not BaseException


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


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("Sonar", "; did you mean '<ULTRASOUND>'?"),  # close to the alias "sonography": shown by its tag
        ("ct scn", "; did you mean '<CT_SCAN>' or '<OCT_SCAN>'?"),  # several aliases of one tag: listed once
        ("xyzzy", "."),  # nothing close
    ],
)
def test_unknown_modality_uses_the_one_wording(text: str, hint: str) -> None:
    from medix_r1.modality import MODALITY_TAGS, UnknownModalityError, resolve_modality

    with pytest.raises(UnknownModalityError) as caught:
        resolve_modality(text)
    assert str(caught.value) == f"unknown modality {text!r}{hint} Valid tags: {', '.join(MODALITY_TAGS)}"


def _raise_judge_down() -> None:
    from medix_r1.judges import JudgeUnavailableError

    raise JudgeUnavailableError("http://judge:8085/v1/chat/completions", 5, "timed out after 60 s")


def test_judge_error_from_a_process_pool_worker() -> None:
    # multiprocessing pickles the worker's exception back to the caller.
    from medix_r1.judges import JudgeUnavailableError

    with multiprocessing.get_context("spawn").Pool(1) as pool, pytest.raises(JudgeUnavailableError) as info:
        pool.apply(_raise_judge_down)
    assert type(info.value) is JudgeUnavailableError
    assert info.value.endpoint == "http://judge:8085/v1/chat/completions" and info.value.attempts == 5
    assert str(info.value).startswith("judge at http://judge:8085/v1/chat/completions failed after 5")


@pytest.mark.slow
def test_judge_error_from_a_ray_task() -> None:
    """Ray, as verl and EasyR1 run the reward worker: the driver gets our class and our message."""
    ray = pytest.importorskip("ray")
    from medix_r1.judges import JudgeUnavailableError

    expected = str(JudgeUnavailableError("http://judge:8085/v1/chat/completions", 5, "timed out after 60 s"))
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        task = ray.remote(_raise_judge_down)
        with pytest.raises(JudgeUnavailableError) as info:
            ray.get(task.remote())
    finally:
        ray.shutdown()
    # Ray raises RayTaskError(JudgeUnavailableError): a subclass of ours whose .cause is the
    # rebuilt original (an unpicklable error would be UnserializableException instead).
    assert not isinstance(info.value, ray.exceptions.UnserializableException)
    cause = info.value.cause
    assert type(cause) is JudgeUnavailableError
    assert str(cause) == expected
    assert (cause.endpoint, cause.attempts, cause.reason) == (
        "http://judge:8085/v1/chat/completions",
        5,
        "timed out after 60 s",
    )
    assert expected in str(info.value)
