"""The one response parser: ``<MODALITY><think>reasoning</think><answer>free text</answer>``.

Rewards, evaluation and the demo all read model output through this module, so "well formed" means
the same thing everywhere (STYLE.md rule 7). The functions reproduce the published reward's
semantics exactly (reference section 3); :func:`parse_response` is the friendly view built on them.

The reasoning tag is configurable: the released MediX-R1 code uses ``<thinking>``, the paper and
website ``<think>``.

>>> r = parse_response("<CT_SCAN> <think>Axial slice.</think> <answer>Liver lesion.</answer>", THINK)
>>> r.modality, r.reasoning, r.answer, r.well_formed
('<CT_SCAN>', 'Axial slice.', 'Liver lesion', True)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

__all__ = [
    "ResponseFormat",
    "THINK",
    "THINKING",
    "ParsedResponse",
    "normalize_tag_whitespace",
    "split_solution",
    "extract_answer",
    "is_invalid_answer",
    "is_well_formed",
    "predicted_modality",
    "parse_response",
    "strip_reasoning",
    "evaluation_cut",
    "INVALID_ANSWER_SYMBOLS",
]

#: An answer containing any of these is treated as garbage by the accuracy rewards (reference 3.4):
#: it catches "A:", "Answer: ...", fill-in-the-blank "__" and answers that are questions.
INVALID_ANSWER_SYMBOLS: tuple[str, ...] = ("__", ":", "?")

_TAG_WHITESPACE = re.compile(r"\s*([<>/])\s*")
_ANSWER_BLOCK = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


@dataclass(frozen=True)
class ResponseFormat:
    """Tag names of the response grammar. ``think_tag`` is ``"thinking"`` (released code) or ``"think"``."""

    think_tag: str = "thinking"
    answer_tag: str = "answer"

    def __post_init__(self) -> None:
        for name in (self.think_tag, self.answer_tag):
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"tag name {name!r} must be letters, digits or '_' (e.g. 'think')")

    @property
    def think_open(self) -> str:
        return f"<{self.think_tag}>"

    @property
    def think_close(self) -> str:
        return f"</{self.think_tag}>"

    @property
    def answer_open(self) -> str:
        return f"<{self.answer_tag}>"

    @property
    def answer_close(self) -> str:
        return f"</{self.answer_tag}>"

    @cached_property
    def answer_pattern(self) -> re.Pattern[str]:
        if self.answer_tag == "answer":
            return _ANSWER_BLOCK
        return re.compile(f"{re.escape(self.answer_open)}(.*?){re.escape(self.answer_close)}", re.DOTALL)

    @cached_property
    def format_pattern(self) -> re.Pattern[str]:
        t, a = self.think_tag, self.answer_tag
        return re.compile(rf"<{t}>.*?</{t}>\s*<{a}>.*?</{a}>", re.DOTALL)


THINKING = ResponseFormat("thinking")
THINK = ResponseFormat("think")


def normalize_tag_whitespace(text: str) -> str:
    """Delete whitespace right before or after every ``<``, ``>`` and ``/`` (reference 3.1).

    This also joins ``a / b`` into ``a/b``, exactly as the published reward does.

    >>> normalize_tag_whitespace("< thinking >x</ thinking >\\n<answer> a / b </answer>")
    '<thinking>x</thinking><answer>a/b</answer>'
    """
    return _TAG_WHITESPACE.sub(r"\1", text)


def split_solution(solution: str) -> tuple[str, str | None]:
    """Split a MediX solution ``"<TAG> answer"`` into (reference modality, reference answer).

    The modality is the text up to and including the first ``>``; the answer the text after it,
    stripped of whitespace and then of leading/trailing ``.`` (reference 3.2). Without any ``>``
    the answer is ``None`` (both accuracy rewards are then 0).

    >>> split_solution("<X_RAY> Pneumothorax.")
    ('<X_RAY>', 'Pneumothorax')
    >>> split_solution("no tag here")
    ('no tag here>', None)
    """
    head, sep, tail = solution.partition(">")
    if not sep:
        return head + ">", None
    return head + ">", tail.strip().strip(".")


def extract_answer(response: str, fmt: ResponseFormat = THINKING) -> str:
    """The predicted answer: the first answer block's content, else the whole response (reference 3.3).

    Stripped of whitespace, then of leading/trailing ``.``. Pass the tag-normalised response.

    >>> extract_answer("<thinking>x</thinking><answer> Yes. </answer>")
    'Yes'
    >>> extract_answer("  no tags at all.  ")
    'no tags at all'
    """
    found = fmt.answer_pattern.search(response)
    answer = found.group(1).strip() if found else response.strip()
    return answer.strip(".")


def is_invalid_answer(answer: str) -> bool:
    """True for answers the accuracy rewards refuse: empty, one character, or containing ``__ : ?``.

    >>> [is_invalid_answer(a) for a in ["", "B", "Answer: B", "is it?", "blank __", "No"]]
    [True, True, True, True, True, False]
    """
    return len(answer) <= 1 or any(symbol in answer for symbol in INVALID_ANSWER_SYMBOLS)


def is_well_formed(response: str, fmt: ResponseFormat = THINKING) -> bool:
    """The format check (reference 3.8): from the first reasoning tag on, the stripped text must be
    exactly a reasoning block, optional whitespace, and an answer block. Pass the normalised response.

    >>> is_well_formed("<CT_SCAN><thinking>a</thinking> <answer>b</answer>")
    True
    >>> is_well_formed("<thinking>a</thinking><answer>b</answer> trailing")
    False
    """
    start = response.find(fmt.think_open)
    if start == -1:
        return False
    return fmt.format_pattern.fullmatch(response[start:].strip()) is not None


def predicted_modality(response: str, fmt: ResponseFormat = THINKING) -> str | None:
    """The stripped text before the first reasoning tag, or ``None`` when there is no reasoning tag.

    >>> predicted_modality("<MRI_SCAN> <thinking>x</thinking>")
    '<MRI_SCAN>'
    >>> predicted_modality("<MRI_SCAN> <answer>x</answer>") is None
    True
    """
    start = response.find(fmt.think_open)
    if start == -1:
        return None
    return response[:start].strip()


def strip_reasoning(text: str) -> str:
    """The text after the last closing ``</think>`` or ``</thinking>`` tag, stripped (evaluation
    protocol, reference section 5); the whole text when there is none.

    >>> strip_reasoning("<think>a</think>b</think> final ")
    'final'
    """
    cut = max(
        (text.rfind(closer) + len(closer) for closer in ("</think>", "</thinking>") if closer in text),
        default=0,
    )
    return text[cut:].strip()


@dataclass(frozen=True)
class ParsedResponse:
    """A model response read the way the rewards read it, for display and evaluation."""

    raw: str
    normalized: str
    modality: str | None
    reasoning: str | None
    answer: str
    has_answer_block: bool
    well_formed: bool

    @property
    def modality_name(self) -> str | None:
        """The modality as a taxonomy tag when it resolves (``"<ct_scan>"`` -> ``"<CT_SCAN>"``)."""
        from medix_r1.modality import UnknownModalityError, resolve_modality

        if not self.modality:
            return None
        try:
            return resolve_modality(self.modality).tag
        except UnknownModalityError:
            return None


def parse_response(text: str, fmt: ResponseFormat | None = None) -> ParsedResponse:
    """Parse a response; with ``fmt=None`` the reasoning tag (``think`` or ``thinking``) is detected.

    >>> p = parse_response("just words")
    >>> p.modality, p.reasoning, p.answer, p.well_formed
    (None, None, 'just words', False)
    """
    normalized = normalize_tag_whitespace(text)
    if fmt is None:
        fmt = THINK if THINK.think_open in normalized and THINKING.think_open not in normalized else THINKING
    reasoning_block = re.search(
        f"{re.escape(fmt.think_open)}(.*?){re.escape(fmt.think_close)}", normalized, re.DOTALL
    )
    # Reasoning is shown from the raw text so the demo keeps the model's own spacing.
    raw_block = re.search(rf"<\s*{fmt.think_tag}\s*>(.*?)<\s*/\s*{fmt.think_tag}\s*>", text, re.DOTALL)
    reasoning = None
    if raw_block is not None:
        reasoning = raw_block.group(1).strip()
    elif reasoning_block is not None:
        reasoning = reasoning_block.group(1).strip()
    return ParsedResponse(
        raw=text,
        normalized=normalized,
        modality=predicted_modality(normalized, fmt) or None,
        reasoning=reasoning,
        answer=extract_answer(normalized, fmt),
        has_answer_block=fmt.answer_pattern.search(normalized) is not None,
        well_formed=is_well_formed(normalized, fmt),
    )


def evaluation_cut(text: str) -> str:
    """What the published evaluation's judge reads of a reply: the text after the last ``</think>``
    when there is one, else after the last ``</thinking>``, stripped; the reply unchanged (not even
    stripped) when it has neither tag (issue 14, quoted from the published ``eval/utils.py``).

    Unlike :func:`strip_reasoning`, a ``</think>`` decides alone: a ``<thinking>`` block that
    follows it stays in the text.

    >>> evaluation_cut("<think>a</think> <thinking>b</thinking> B")
    '<thinking>b</thinking> B'
    >>> evaluation_cut("<thinking>a</thinking> B "), evaluation_cut(" B ")
    ('B', ' B ')
    """
    for closer in ("</think>", "</thinking>"):
        if closer in text:
            return text.split(closer)[-1].strip()
    return text
