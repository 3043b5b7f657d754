"""The settings of one evaluation run: :class:`EvalConfig`, what ``medix-r1 eval run`` builds from its
flags and what :func:`medix_r1.evaluation.runner.run_configured` takes.

One field per flag of ``eval run`` (the flag is the field name with ``-`` for ``_``, except
``timeout_s`` = ``--timeout`` and ``reports`` = ``--no-report``), with the flag's help text as its
description and the published protocol's value as its default (reference section 5: Qwen3-14B judge
with thinking off, three rounds, 2048 new tokens, no system prompt, the question exactly as the
published harness sends it). A value a flag would refuse is refused here with the same words, so a
library caller reads what a CLI user reads.

>>> EvalConfig(model="org/m", tasks="mini", backend="fake", judge_backend="fake").phases
('generate', 'judge', 'score')
>>> EvalConfig(model="m", phases="judge,score", judge_url="http://j:8000/v1").phases
('judge', 'score')
>>> EvalConfig.build(model=" ")
Traceback (most recent call last):
...
medix_r1.evaluation.config.EvalConfigError: --model is empty: give the candidate's served name (it also names OUT/<model>/)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from medix_r1.errors import MedixError
from medix_r1.evaluation.files import model_dirname

__all__ = ["EvalConfig", "EvalConfigError", "JUDGE_KEY_ENV", "PHASES", "BACKENDS", "JUDGE_BACKENDS"]

#: The judge's key has its own variable: the candidate's OPENAI_API_KEY never goes to the judge host.
JUDGE_KEY_ENV = "MEDIX_JUDGE_API_KEY"
PHASES: tuple[str, ...] = ("generate", "judge", "score")
BACKENDS: tuple[str, ...] = ("openai", "transformers", "fake")
JUDGE_BACKENDS: tuple[str, ...] = ("openai", "fake")
_TOKEN_LIMIT_PARAMS = ("max_tokens", "max_completion_tokens")  # chat.openai.TOKEN_LIMIT_PARAMS
#: Fields that take one of a few words: one check and one message shape for all of them.
_CHOICES: dict[str, tuple[str, ...]] = {
    "prompt": ("plain", "medix"),
    "think_tag": ("thinking", "think"),
    "token_limit_param": _TOKEN_LIMIT_PARAMS,
    "backend": BACKENDS,
    "judge_backend": JUDGE_BACKENDS,
}


class EvalConfigError(MedixError, ValueError):
    """A setting of an evaluation run that cannot be used (the message names the flag)."""


class EvalConfig(BaseModel):
    """Every setting of one evaluation run (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    # -- what is evaluated, and where the results go
    model: str = Field(description="Candidate model name (served name, and the results folder name).")
    tasks: str = Field(
        "medix17", description="medix17 | llm | vlm | mini[:DIR] | names (comma-separated) | TASKS.yaml"
    )
    out: Path = Field(Path("results"), description="Output folder; files go to OUT/<model>/.")
    phases: tuple[str, ...] = Field(PHASES, description="Comma-separated: generate, judge, score.")
    limit: int | None = Field(None, ge=1, description="Only the first N samples of each task.")
    # -- the candidate
    backend: str = Field("openai", description="Candidate backend: openai | transformers | fake.")
    base_url: str | None = Field(None, description="Candidate's OpenAI-compatible URL (openai backend).")
    model_path: str | None = Field(None, description="Local model folder (transformers backend).")
    api_key_env: str = Field(
        "OPENAI_API_KEY",
        description="Environment variable with the candidate endpoint's key (sent to --base-url only).",
    )
    serve: bool = Field(False, description="Start `vllm serve --model` for the candidate (GPU extra).")
    tensor_parallel_size: int = Field(1, ge=1, description="vLLM tensor parallelism with --serve.")
    system_prompt: str | None = Field(None, description="System prompt (published: none).")
    prompt: str = Field(
        "plain",
        description="plain: the question exactly as the published protocol sends it; medix: the MediX "
        "training instruction, the image, then the question (a training run's own template for "
        "--model-path).",
    )
    think_tag: str | None = Field(
        None,
        description="With --prompt medix: the reasoning tag the model was trained with (thinking or "
        "think; default: the training run's, else thinking).",
    )
    max_tokens: int = Field(2048, ge=1, description="Candidate's max new tokens (published: 2048).")
    force_think: bool = Field(
        False, description="Append ' <think>' to the question (the published FORCE_THINK=1)."
    )
    yes_no_choices: bool = Field(
        False,
        description="Show a task's unquoted yes / no options as the words (changes PubMedQA scores; "
        "published: True / False, as YAML reads them).",
    )
    # -- the judge
    judge_url: str | None = Field(None, description="Judge's OpenAI-compatible URL.")
    judge_model: str = Field("Qwen/Qwen3-14B", description="Judge model (published: Qwen/Qwen3-14B).")
    judge_backend: str = Field(
        "openai", description="openai | fake (a deterministic stand-in, offline demos only)."
    )
    judge_api_key_env: str = Field(
        JUDGE_KEY_ENV,
        description="Environment variable with the judge endpoint's key (sent to --judge-url only; a "
        "separate variable from the candidate's so one key never reaches both hosts).",
    )
    judge_rounds: int = Field(
        3, ge=1, description="Judge rounds per sample in one conversation (published: 3)."
    )
    judge_reasks: int = Field(
        2, ge=0, description="Re-asks after unreadable judge replies before judge_failed."
    )
    judge_thinking: bool = Field(False, description="Let the judge think (published: off).")
    strict_verdicts: bool = Field(
        False,
        description="Accept only the judge scores the prompt offers (0/1, whole 0-5); others are "
        "re-asked (can change scores; published: any number, half points included).",
    )
    # -- the HTTP clients (one per endpoint)
    concurrency: int = Field(
        64, ge=1, description="Samples in flight (each endpoint gets this many connections)."
    )
    timeout_s: float = Field(180.0, ge=0.001, description="Seconds per request before a retry.")
    max_retries: int = Field(4, ge=0, description="Retries per request on 429 / 5xx / timeouts.")
    token_limit_param: str = Field(
        "max_tokens",
        description="Request field for the reply-length limit: max_tokens (vLLM, SGLang) or "
        "max_completion_tokens (servers that want OpenAI's newer name).",
    )
    # -- resume and outputs
    redo_changed: bool = Field(
        False, description="Drop and redo rows whose data, prompt or settings changed."
    )
    retry_failed: bool = Field(False, description="Judge judge_failed samples again.")
    reports: bool = Field(True, description="Write report.md / report.html / plot (--no-report: skip).")

    @field_validator("model")
    @classmethod
    def _model_names_a_folder(cls, value: str) -> str:
        if not value.strip():
            raise EvalConfigError(
                "--model is empty: give the candidate's served name (it also names OUT/<model>/)"
            )
        try:
            model_dirname(value)
        except ValueError as exc:
            raise EvalConfigError(f"--model {value!r}: {exc}") from None
        return value

    @field_validator("base_url", "judge_url")
    @classmethod
    def _http_url(cls, value: str | None, info: Any) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            flag = "--" + info.field_name.replace("_", "-")
            raise EvalConfigError(
                f"{flag} {value!r}: expected an http:// or https:// URL, e.g. http://localhost:8000/v1"
            )
        return value

    @field_validator("phases", mode="before")
    @classmethod
    def _phases(cls, value: Any) -> tuple[str, ...]:
        raw = value
        if isinstance(value, str):
            value = value.split(",")
        chosen = tuple(str(p).strip() for p in value if str(p).strip())
        if not chosen or any(p not in PHASES for p in chosen):
            shown = raw if isinstance(raw, str) else ",".join(map(str, raw))
            raise EvalConfigError(f"--phases {shown!r}: choose from {', '.join(PHASES)}")
        return chosen

    @field_validator(*_CHOICES)
    @classmethod
    def _one_of(cls, value: str | None, info: Any) -> str | None:
        choices = _CHOICES[info.field_name]
        if value is None and info.field_name == "think_tag":
            return value  # the run's own tag, or the default
        if value not in choices:
            flag = "--" + info.field_name.replace("_", "-")
            raise EvalConfigError(f"{flag} {value!r}: choose {', '.join(choices[:-1])} or {choices[-1]}")
        return value

    @model_validator(mode="after")
    def _together(self) -> EvalConfig:
        if self.force_think and self.backend != "openai":
            raise EvalConfigError(
                "--force-think applies to the openai backend (the published harness's only one)"
            )
        return self

    # -- views --------------------------------------------------------------------------------------
    @property
    def generates(self) -> bool:
        return "generate" in self.phases

    @property
    def judges(self) -> bool:
        return "judge" in self.phases

    def check_backends(self) -> None:
        """What each chosen phase needs (checked after the tasks, as ``eval run`` always did)."""
        if self.generates and self.backend == "openai" and not self.base_url and not self.serve:
            raise EvalConfigError(
                "the openai backend needs --base-url (or --serve to start vLLM, or --backend fake / transformers)"
            )
        if self.generates and self.backend == "transformers" and not self.model_path:
            raise EvalConfigError("--backend transformers needs --model-path")
        if self.judges and self.judge_backend == "openai" and not self.judge_url:
            raise EvalConfigError(
                "the judge phase needs --judge-url (an OpenAI-compatible endpoint) and --judge-model"
            )

    @classmethod
    def build(cls, **values: Any) -> EvalConfig:
        """Like ``EvalConfig(...)``, but a refused value raises :class:`EvalConfigError` (the first
        problem, in the words of the flag) instead of pydantic's ``ValidationError``."""
        try:
            return cls(**values)
        except ValidationError as exc:
            raise _as_config_error(exc) from None


def _as_config_error(exc: ValidationError) -> EvalConfigError:
    first = exc.errors()[0]
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, EvalConfigError):
        return cause
    field = ".".join(str(part) for part in first.get("loc", ())) or "config"
    flag = {"timeout_s": "timeout", "reports": "no-report"}.get(field, field).replace("_", "-")
    return EvalConfigError(f"--{flag}: {first.get('msg')}")
