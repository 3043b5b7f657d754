"""What every reward reads from a rollout, computed once per batch (reference section 3, steps 1-5).

A rollout is a completion (text, or a chat message list as TRL passes it) and a ``solution``
``"<TAG> answer"``; a separate ``modality`` column may carry the tag instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from medix_r1.errors import MedixError
from medix_r1.parsing import (
    ResponseFormat,
    extract_answer,
    is_invalid_answer,
    normalize_tag_whitespace,
    split_solution,
)

__all__ = [
    "Rollout",
    "RolloutReward",
    "prepare_rollouts",
    "completion_text",
    "compose_solution",
    "RewardInputError",
]


class RewardInputError(MedixError, ValueError):
    """A rollout that cannot be scored as given (missing or contradictory fields)."""


def completion_text(completion: Any) -> str:
    """The text of a completion: a string, or the last message of a chat completion.

    >>> completion_text([{"role": "assistant", "content": "hi"}])
    'hi'
    >>> completion_text([{"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}])
    'ab'
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        content = completion[-1].get("content", "")
        if isinstance(content, list):
            return "".join(part.get("text", "") for part in content if isinstance(part, dict))
        return "" if content is None else str(content)
    raise RewardInputError(
        f"a completion must be text or a list of chat messages, got {type(completion).__name__}"
    )


def compose_solution(solution: str | None, modality: str | None) -> str:
    """The MediX solution string, adding the tag from a separate ``modality`` field when needed.

    >>> compose_solution("Pneumonia", "CR")
    '<X_RAY> Pneumonia'
    >>> compose_solution("<CT_SCAN> Mass", None)
    '<CT_SCAN> Mass'
    """
    if solution is None:
        raise RewardInputError("missing 'solution' (the reference answer, e.g. '<X_RAY> pneumothorax')")
    if not isinstance(solution, str):
        raise RewardInputError(f"'solution' must be text, got {type(solution).__name__}")
    if not modality:
        return solution
    from medix_r1.modality import UnknownModalityError, resolve_modality

    try:
        tag = resolve_modality(modality).tag
    except UnknownModalityError as exc:
        raise RewardInputError(f"field 'modality': {exc}") from None
    stripped = solution.lstrip()
    if stripped.startswith("<") and ">" in stripped:
        own = stripped[: stripped.index(">") + 1]
        if own.upper() != tag.upper():
            raise RewardInputError(f"'solution' is tagged {own} but 'modality' says {tag}; make them agree")
        return solution
    return f"{tag} {solution}"


@dataclass(frozen=True)
class Rollout:
    """One response as the rewards see it."""

    normalized: str
    answer: str
    reference: str | None
    reference_modality: str
    #: 1.0 exact match, 0.0 invalid answer or untagged solution, None when a model must decide.
    shortcut: float | None


def prepare_rollouts(
    completions: Sequence[Any],
    solutions: Sequence[str | None],
    modalities: Sequence[str | None] | None,
    fmt: ResponseFormat,
) -> list[Rollout]:
    """Normalise, extract and apply the invalid-answer guard and the exact-match shortcut."""
    if solutions is None:
        raise RewardInputError("missing 'solution' column (reference answers like '<X_RAY> pneumothorax')")
    if len(completions) != len(solutions):
        raise RewardInputError(f"{len(completions)} completions but {len(solutions)} solutions")
    if modalities is not None and len(modalities) != len(solutions):
        raise RewardInputError(f"{len(solutions)} solutions but {len(modalities)} modality values")
    out = []
    for i, (completion, solution) in enumerate(zip(completions, solutions, strict=True)):
        try:
            full = compose_solution(solution, modalities[i] if modalities is not None else None)
            normalized = normalize_tag_whitespace(completion_text(completion))
        except RewardInputError as exc:
            raise RewardInputError(f"rollout {i}: {exc}") from None
        answer = extract_answer(normalized, fmt)
        ref_modality, reference = split_solution(full)
        shortcut: float | None = None
        if reference is None or is_invalid_answer(answer):
            shortcut = 0.0
        elif answer == reference:
            shortcut = 1.0
        out.append(Rollout(normalized, answer, reference, ref_modality, shortcut))
    return out


class RolloutReward:
    """Base of the synchronous rewards that read prepared rollouts: the engine-facing call.

    Subclasses set ``fmt`` and implement ``score_rollouts``.
    """

    fmt: ResponseFormat

    def score_rollouts(self, rollouts: Sequence[Rollout]) -> list[float]:
        raise NotImplementedError

    def __call__(
        self,
        completions: Sequence[Any],
        solution: Sequence[str] | None = None,
        modality: Sequence[str | None] | None = None,
        **_: Any,
    ) -> list[float]:
        return self.score_rollouts(prepare_rollouts(completions, solution, modality, self.fmt))  # type: ignore[arg-type]
