"""The judge protocol of the published evaluation (reference section 5), in our own words and code.

1. The candidate's reply is cut as published (:func:`medix_r1.parsing.evaluation_cut`): the text after
   the last ``</think>`` when there is one, else after the last ``</thinking>``.
2. The judge gets a reference-based prompt (:mod:`medix_r1.evaluation.prompts`) and answers
   ``{"score": n}``; binary tasks are asked for 0 or 1, ``scale5`` tasks for 0 to 5. The verdict is read
   as the published parser reads it (its own reasoning cut the same way, then the span from the first
   ``{`` to the last ``}`` as JSON): every number counts, numeric strings (``"1"``) and half points
   (``3.5``) included. ``strict_verdicts`` accepts only the values the prompt offered.
3. Three rounds in one conversation: after each verdict the judge is asked to check it again.
4. Binary: 1 when at least two of three rounds say 1 (a strict majority). ``scale5``: the mean of the
   rounds; the sample's value is that mean / 5.

A reply without a readable verdict is re-asked (at most ``max_reasks`` times over the sample); after
that the sample is ``judge_failed``: counted and reported, never scored 0 or 1. An unreachable judge
raises :class:`~medix_r1.chat.errors.JudgeUnavailableError` and nothing is written for the sample.

>>> parse_verdict('<think>hmm</think>```json\\n{"score": 1}\\n```', "binary")
1
>>> parse_verdict('{"score": "1"}', "binary"), parse_verdict('{"score": 3.5}', "scale5")
(1, 3.5)
>>> parse_verdict('{"score": 7}', "scale5", strict=True) is None
True
>>> aggregate([1, 0, 1], "binary"), aggregate([4, 5, 3], "scale5")
(1, 4.0)
"""

from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

from medix_r1.chat.errors import JUDGE
from medix_r1.chat.messages import chat_messages
from medix_r1.evaluation.files import content_hash
from medix_r1.evaluation.prompts import JUDGE_PROMPT_HASH, RECHECK_REQUEST, judge_prompt, reask_message
from medix_r1.parsing import evaluation_cut

__all__ = ["Judgement", "JudgeProtocol", "parse_verdict", "aggregate", "sample_value", "ALLOWED_SCORES"]

#: What the parser accepts for each grading: only what the prompt offered.
ALLOWED_SCORES: dict[str, frozenset[int]] = {
    "binary": frozenset({0, 1}),
    "scale5": frozenset({0, 1, 2, 3, 4, 5}),
}

_OBJECT = re.compile(r"\{[^{}]*\}")


def _as_score(value: Any, grading: str, strict: bool) -> int | float | None:
    """A score value as a number (whole numbers as ``int``), or ``None`` when it cannot be used.

    Published (``strict`` off): any JSON number is used as it is, ``true`` / ``false`` as 1 / 0 (Python
    counts them as numbers); on a binary task any other value is a round that is not 1 (its majority
    counts ``1``s), so it is read as 0. A numeric string is read as its number (the published harness
    counts a binary ``"1"`` as 0 and crashes on ``"3"`` for a 0-5 task: a bug we do not copy). With
    ``strict`` only the values the prompt offered pass."""
    if isinstance(value, bool):
        if strict:
            return None
        value = int(value)
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            value = None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return 0 if grading == "binary" and not strict else None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if strict and value not in ALLOWED_SCORES[grading]:
        return None
    return value


_MISSING = object()


def _published_span_score(text: str) -> Any:
    """The published reading: ``json.loads`` of the span from the first ``{`` to the last ``}``, then
    its ``score``; :data:`_MISSING` where the published harness would raise."""
    start, end = text.find("{"), text.rfind("}") + 1
    try:
        obj = json.loads(text[start:end])
    except ValueError:
        return _MISSING
    if not isinstance(obj, dict) or "score" not in obj:
        return _MISSING
    return obj["score"]


def parse_verdict(reply: str, grading: str, *, strict: bool = False) -> int | float | None:
    """The score in a judge reply, or ``None`` when there is no single usable one.

    The reply's own reasoning is cut as published. The published reading comes first (the span from
    the first ``{`` to the last ``}``); where the published harness would crash on that span (several
    objects, stray braces), every flat JSON object with a ``score`` key counts and they must agree.
    """
    text = evaluation_cut(reply or "")
    value = _published_span_score(text)
    if value is not _MISSING:
        return _as_score(value, grading, strict)
    found: set[int | float] = set()
    invalid = False
    for match in _OBJECT.finditer(text):
        try:
            obj = json.loads(match.group(0))
        except ValueError:
            continue
        if isinstance(obj, dict) and "score" in obj:
            score = _as_score(obj["score"], grading, strict)
            if score is None:
                invalid = True
            else:
                found.add(score)
    if invalid or len(found) != 1:
        return None
    return found.pop()


def aggregate(rounds: list[int | float], grading: str) -> float | int:
    """The published per-sample score: 1 when at least two of three rounds are exactly 1 (binary), or
    the mean of the 0-5 rounds (scale5)."""
    if not rounds:
        raise ValueError("no rounds to aggregate")
    if grading == "binary":
        return 1 if 2 * sum(1 for r in rounds if r == 1) > len(rounds) else 0
    if grading == "scale5":
        return sum(rounds) / len(rounds)
    raise ValueError(f"unknown grading {grading!r}")


def sample_value(score: float | int, grading: str) -> float:
    """A sample's score on 0-1 (a ``scale5`` mean is divided by 5)."""
    return float(score) / 5.0 if grading == "scale5" else float(score)


@dataclass
class Judgement:
    """The outcome of judging one sample."""

    status: str  # "ok" or "judge_failed"
    grading: str
    rounds: list[int | float] = field(default_factory=list)
    score: float | int | None = None  # published meaning: 0/1, or the mean of 0-5
    value: float | None = None  # 0-1
    reasks: int = 0
    replies: list[str] = field(default_factory=list)
    reason: str | None = None

    def as_row(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "value": self.value,
            "status": self.status,
            "grading": self.grading,
            "rounds": self.rounds,
            "reasks": self.reasks,
            "reason": self.reason,
            "replies": self.replies,
        }


class JudgeProtocol:
    """Judge samples with a chat client (:class:`medix_r1.chat.base.ChatClient`: anything with
    ``async complete(messages, max_new_tokens=...)``), used in the judge role.

    ``max_new_tokens`` caps each judge reply (``max_tokens`` is its deprecated name; the settings
    key and the row hash keep ``max_tokens``)."""

    def __init__(
        self,
        client: Any,
        *,
        model: str | None = None,
        rounds: int = 3,
        max_new_tokens: int = 512,
        temperature: float = 0.0,
        max_reasks: int = 2,
        keep_replies_chars: int = 2000,
        extra_body: dict[str, Any] | None = None,
        strict_verdicts: bool = False,
        max_tokens: int | None = None,
    ) -> None:
        if rounds < 1 or max_reasks < 0:
            raise ValueError("rounds must be >= 1 and max_reasks >= 0")
        if max_tokens is not None:
            warnings.warn(
                "JudgeProtocol(max_tokens=) is now max_new_tokens", DeprecationWarning, stacklevel=2
            )
            max_new_tokens = max_tokens
        # A client shared with the candidate on one server: same pool and limit, failures named "judge".
        self.client = client.with_role(JUDGE) if hasattr(client, "with_role") else client
        self.model = model or getattr(client, "model", None) or getattr(client, "identity", "judge")
        self.rounds = rounds
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.max_reasks = max_reasks
        self.keep_replies_chars = keep_replies_chars
        #: Accept only the score values the prompt offered (a deliberate difference; off = published).
        self.strict_verdicts = strict_verdicts
        #: Sent with every judge request only (e.g. vLLM's ``chat_template_kwargs`` turning thinking off),
        #: so a client shared with the candidate on one endpoint is not affected.
        self.extra_body = dict(extra_body or {})

    @property
    def identity(self) -> str:
        """Deprecated name of :attr:`judge_hash`."""
        return self.judge_hash

    @property
    def max_tokens(self) -> int:
        """Deprecated name of :attr:`max_new_tokens`."""
        return self.max_new_tokens

    @property
    def judge_hash(self) -> str:
        """What the judgements depend on: judge model, prompt hash, rounds (each row's ``judge_hash``)."""
        return content_hash(
            self.model,
            JUDGE_PROMPT_HASH,
            self.rounds,
            self.max_new_tokens,
            self.temperature,
            self.extra_body or None,
            *(["strict"] if self.strict_verdicts else []),
        )

    def settings(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "prompt_hash": JUDGE_PROMPT_HASH,
            "rounds": self.rounds,
            "max_tokens": self.max_new_tokens,  # the published name, recorded in run.json
            "temperature": self.temperature,
            "max_reasks": self.max_reasks,
            "extra_body": self.extra_body,
            "strict_verdicts": self.strict_verdicts,
        }

    async def _ask(self, messages: list[dict[str, Any]]) -> str:
        extra: dict[str, Any] = dict(self.extra_body)
        client_model = getattr(self.client, "model", None)
        if client_model is not None and client_model != self.model:
            extra["model"] = self.model  # one client shared with the candidate on the same endpoint
        return await self.client.complete(
            messages, max_new_tokens=self.max_new_tokens, temperature=self.temperature, **extra
        )

    async def judge(self, question: str, reference: str, response: str, grading: str) -> Judgement:
        """Run the protocol on one sample. Raises the client's error when the judge is unreachable."""
        candidate = evaluation_cut(response or "")
        messages = chat_messages(judge_prompt(grading, question, reference, candidate))
        out = Judgement(status="ok", grading=grading)
        while len(out.rounds) < self.rounds:
            reply = await self._ask(messages)
            out.replies.append(reply[: self.keep_replies_chars])
            messages.append({"role": "assistant", "content": reply})
            verdict = parse_verdict(reply, grading, strict=self.strict_verdicts)
            if verdict is None:
                if out.reasks >= self.max_reasks:
                    out.status = "judge_failed"
                    out.reason = f"no readable verdict after {out.reasks} re-ask(s): {reply[:120]!r}"
                    stats = getattr(self.client, "stats", None)
                    if stats is not None and hasattr(stats, "unparseable"):
                        stats.unparseable += 1
                    return out
                out.reasks += 1
                messages.append({"role": "user", "content": reask_message(grading)})
                continue
            out.rounds.append(verdict)
            if len(out.rounds) < self.rounds:
                messages.append({"role": "user", "content": RECHECK_REQUEST})
        out.score = aggregate(out.rounds, grading)
        out.value = sample_value(out.score, grading)
        return out


def fake_judge_reply(messages: list[dict[str, Any]]) -> str:
    """A deterministic stand-in judge for our prompts (tests, demos, benchmarks; not a real judge).

    It reads the reference and candidate blocks of the first turn and says 1 (or 5) when the
    candidate's content words include the reference's, else 0.
    """
    from medix_r1.judges.fake import fake_answers_match

    first = messages[0]["content"]
    if not isinstance(first, str):
        first = " ".join(p.get("text", "") for p in first if isinstance(p, dict))
    blocks = dict(re.findall(r"<(reference|candidate)>\n(.*?)\n</\1>", first, re.DOTALL))
    if "reference" not in blocks or "candidate" not in blocks:
        raise ValueError("the fake eval judge only understands medix-r1 evaluation prompts")
    ok = fake_answers_match(blocks["candidate"], blocks["reference"])
    top = 5 if "<instruction>" in first else 1
    return json.dumps({"score": top if ok else 0})
