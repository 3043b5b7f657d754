"""Issue 15 point 4: the evaluation config object that ``eval run`` builds and the library takes."""

from __future__ import annotations

import ast
import json
import pickle
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from medix_r1.cli import app
from medix_r1.evaluation.config import EvalConfig, EvalConfigError
from medix_r1.evaluation.files import FolderOwnedError, RunFolderBusyError
from medix_r1.judges.cache import JudgeCacheError

runner = CliRunner()
CLI = Path(__file__).parents[2] / "src" / "medix_r1" / "cli"


def _run_options() -> dict[str, Any]:
    command = typer.main.get_command(app).commands["eval"].commands["run"]  # type: ignore[attr-defined]
    return {p.name: p for p in command.params if p.param_type_name == "option"}


def test_every_field_has_help_and_the_published_defaults():
    fields = EvalConfig.model_fields
    assert all(info.description for info in fields.values())
    defaults = {name: info.default for name, info in fields.items() if not info.is_required()}
    assert defaults["judge_model"] == "Qwen/Qwen3-14B" and defaults["judge_rounds"] == 3
    assert defaults["max_tokens"] == 2048 and defaults["system_prompt"] is None
    assert defaults["judge_thinking"] is False and defaults["prompt"] == "plain"
    assert defaults["phases"] == ("generate", "judge", "score") and defaults["concurrency"] == 64


def test_the_cli_flags_are_the_config_fields_with_the_same_defaults_and_help():
    options = _run_options()
    renamed = {"timeout_s": "timeout_s", "reports": "no_report"}
    for name, info in EvalConfig.model_fields.items():
        option = options[renamed.get(name, name)]
        if name == "reports":
            assert option.default is False and option.opts == ["--no-report"]
            continue
        assert option.help == info.description, name
        if not info.is_required():
            expected = ",".join(info.default) if name == "phases" else info.default
            assert option.default == expected, name
    flags = sorted(o for p in options.values() for o in p.opts)
    assert flags == sorted(
        [
            "--model",
            "--tasks",
            "--out",
            "--backend",
            "--base-url",
            "--model-path",
            "--api-key-env",
            "--serve",
            "--tensor-parallel-size",
            "--judge-url",
            "--judge-model",
            "--judge-backend",
            "--judge-api-key-env",
            "--judge-rounds",
            "--judge-reasks",
            "--judge-thinking",
            "--phases",
            "--concurrency",
            "--limit",
            "--system-prompt",
            "--prompt",
            "--think-tag",
            "--max-tokens",
            "--timeout",
            "--max-retries",
            "--token-limit-param",
            "--redo-changed",
            "--retry-failed",
            "--no-report",
            "--yes-no-choices",
            "--strict-verdicts",
            "--force-think",
        ]
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"model": ""}, "--model is empty: give the candidate's served name (it also names OUT/<model>/)"),
        (
            {"model": "m", "judge_url": "notaurl"},
            "--judge-url 'notaurl': expected an http:// or https:// URL",
        ),
        ({"model": "m", "phases": "gen"}, "--phases 'gen': choose from generate, judge, score"),
        ({"model": "m", "backend": "vllm"}, "--backend 'vllm': choose openai, transformers or fake"),
        (
            {"model": "m", "backend": "fake", "force_think": True},
            "--force-think applies to the openai backend",
        ),
        ({"model": "m", "concurrency": 0}, "--concurrency: Input should be greater than or equal to 1"),
        ({"model": "m", "timeout_s": 0}, "--timeout: Input should be greater than or equal to 0.001"),
        ({"model": "m", "colour": 1}, "--colour: Extra inputs are not permitted"),
    ],
)
def test_a_refused_value_is_one_error_in_the_flags_words(values, message):
    with pytest.raises(EvalConfigError) as caught:
        EvalConfig.build(**values)
    assert str(caught.value).startswith(message)


def test_the_library_runs_from_a_config(tmp_path):
    from medix_r1.evaluation.runner import run_configured

    (tmp_path / "d.jsonl").write_text(json.dumps({"q": "Q?", "a": "No abnormality is seen."}) + "\n")
    (tmp_path / "t.yaml").write_text(
        "llm:\n  t:\n    data_files: d.jsonl\n    question_column: q\n    answer_column: a\n"
    )
    config = EvalConfig.build(
        model="org/m",
        tasks=str(tmp_path / "t.yaml"),
        out=tmp_path / "o",
        backend="fake",
        judge_backend="fake",
        reports=False,
    )
    result = run_configured(config)
    assert result.summary is not None and result.summary.generated == 1 and result.scores is not None
    run = json.loads((tmp_path / "o" / "m" / "run.json").read_text())
    assert run["model"] == "org/m" and run["backend"] == "fake" and run["judge_backend"] == "fake"
    with pytest.raises(EvalConfigError, match="the judge phase needs --judge-url"):
        run_configured(config.model_copy(update={"judge_backend": "openai"}))


def test_new_errors_survive_pickling():
    for error in (
        EvalConfigError("x"),
        RunFolderBusyError(Path("/r/m"), "pid 7"),
        FolderOwnedError(Path("/r/m"), "a/m", "b/m"),
        JudgeCacheError("c"),
    ):
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is type(error) and str(back) == str(error) and back.__dict__ == error.__dict__


def test_no_cli_function_is_longer_than_80_lines():
    long = []
    for path in sorted(CLI.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > 80:
                    long.append(f"{path.name}:{node.name} ({length} lines)")
    assert long == []
