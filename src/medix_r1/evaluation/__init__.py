"""Evaluation on the 17-task MediX-R1 suite with an LLM judge (reference section 5).

Phases are library functions over a run directory (:func:`run_eval`, :func:`generate`, :func:`judge`,
:func:`score`); the task registry resolves ``--tasks`` values (:func:`resolve_tasks`). Importing this
package loads no model, dataset or client.
"""

from __future__ import annotations

import importlib
from typing import Any

# Names are loaded on first use (PEP 562), so `import medix_r1.evaluation.config` (the CLI does, to
# build its options) does not import the runner, the generators and the task registry.
_EXPORTS: dict[str, str] = {
    "RunPaths": "medix_r1.evaluation.files",
    "StaleResultsError": "medix_r1.evaluation.files",
    "model_dirname": "medix_r1.evaluation.files",
    "read_rows": "medix_r1.evaluation.files",
    "FakeGenerator": "medix_r1.evaluation.generation",
    "OpenAIGenerator": "medix_r1.evaluation.generation",
    "TransformersGenerator": "medix_r1.evaluation.generation",
    "build_messages": "medix_r1.evaluation.generation",
    "sample_messages": "medix_r1.evaluation.generation",
    "Judgement": "medix_r1.evaluation.judging",
    "JudgeProtocol": "medix_r1.evaluation.judging",
    "aggregate": "medix_r1.evaluation.judging",
    "fake_judge_reply": "medix_r1.evaluation.judging",
    "parse_verdict": "medix_r1.evaluation.judging",
    "JUDGE_PROMPT_HASH": "medix_r1.evaluation.prompts",
    "format_question": "medix_r1.evaluation.prompts",
    "EXTRA_TASKS": "medix_r1.evaluation.registry",
    "PUBLISHED_TASKS": "medix_r1.evaluation.registry",
    "UnknownTaskError": "medix_r1.evaluation.registry",
    "load_task_file": "medix_r1.evaluation.registry",
    "mini_suite": "medix_r1.evaluation.registry",
    "resolve_tasks": "medix_r1.evaluation.registry",
    "EvalRunError": "medix_r1.evaluation.runner",
    "RunSummary": "medix_r1.evaluation.runner",
    "generate": "medix_r1.evaluation.runner",
    "judge": "medix_r1.evaluation.runner",
    "load_samples": "medix_r1.evaluation.runner",
    "run_eval": "medix_r1.evaluation.runner",
    "score": "medix_r1.evaluation.runner",
    "Scores": "medix_r1.evaluation.scoring",
    "bootstrap_interval": "medix_r1.evaluation.scoring",
    "compute_scores": "medix_r1.evaluation.scoring",
    "make_submission": "medix_r1.evaluation.submission",
    "submission_name": "medix_r1.evaluation.submission",
    "EvalSample": "medix_r1.evaluation.tasks",
    "TaskConfigError": "medix_r1.evaluation.tasks",
    "TaskSpec": "medix_r1.evaluation.tasks",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = [
    "RunPaths",
    "StaleResultsError",
    "model_dirname",
    "read_rows",
    "FakeGenerator",
    "OpenAIGenerator",
    "TransformersGenerator",
    "build_messages",
    "sample_messages",
    "JudgeProtocol",
    "Judgement",
    "aggregate",
    "fake_judge_reply",
    "parse_verdict",
    "JUDGE_PROMPT_HASH",
    "format_question",
    "EXTRA_TASKS",
    "PUBLISHED_TASKS",
    "UnknownTaskError",
    "load_task_file",
    "mini_suite",
    "resolve_tasks",
    "EvalRunError",
    "RunSummary",
    "generate",
    "judge",
    "load_samples",
    "run_eval",
    "score",
    "Scores",
    "bootstrap_interval",
    "compute_scores",
    "make_submission",
    "submission_name",
    "EvalSample",
    "TaskConfigError",
    "TaskSpec",
]
