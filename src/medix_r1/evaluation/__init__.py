"""Evaluation on the 17-task MediX-R1 suite with an LLM judge (reference section 5).

Phases are library functions over a run directory (:func:`run_eval`, :func:`generate`, :func:`judge`,
:func:`score`); the task registry resolves ``--tasks`` values (:func:`resolve_tasks`). Importing this
package loads no model, dataset or client.
"""

from medix_r1.evaluation.files import RunPaths, StaleResultsError, model_dirname, read_rows
from medix_r1.evaluation.generation import (
    FakeGenerator,
    OpenAIGenerator,
    TransformersGenerator,
    build_messages,
)
from medix_r1.evaluation.judging import Judgement, JudgeProtocol, aggregate, fake_judge_reply, parse_verdict
from medix_r1.evaluation.prompts import JUDGE_PROMPT_HASH, format_question
from medix_r1.evaluation.registry import (
    EXTRA_TASKS,
    PUBLISHED_TASKS,
    UnknownTaskError,
    load_task_file,
    mini_suite,
    resolve_tasks,
)
from medix_r1.evaluation.runner import (
    EvalRunError,
    RunSummary,
    generate,
    judge,
    load_samples,
    run_eval,
    score,
)
from medix_r1.evaluation.scoring import Scores, bootstrap_interval, compute_scores
from medix_r1.evaluation.submission import make_submission, submission_name
from medix_r1.evaluation.tasks import EvalSample, TaskConfigError, TaskSpec

__all__ = [
    "RunPaths",
    "StaleResultsError",
    "model_dirname",
    "read_rows",
    "FakeGenerator",
    "OpenAIGenerator",
    "TransformersGenerator",
    "build_messages",
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
