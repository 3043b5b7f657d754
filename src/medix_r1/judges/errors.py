"""Judge failures. A failure is never a verdict: it is raised, or reported as "unscored".

:class:`JudgeError`, :class:`JudgeUnavailableError` and :class:`JudgeConfigError` are the chat
client's errors in the judge role (defined in :mod:`medix_r1.chat.errors`, where the client raises
them; also :class:`~medix_r1.chat.errors.ChatError`). The judge deadline's error is the judges' own.

Every class here pickles with its message and fields (``MedixError``): a judge outage raised in a
Ray reward worker (verl, EasyR1) reaches the training driver as this class, not as Ray's
``UnserializableException``.
"""

from __future__ import annotations

from medix_r1.chat.errors import JUDGE, JudgeConfigError, JudgeError, JudgeUnavailableError

__all__ = ["JudgeError", "JudgeUnavailableError", "JudgeConfigError", "JudgeDeadlineError"]


class JudgeDeadlineError(JudgeUnavailableError):
    """A reward batch waited on the judge longer than the judge deadline (``judge_deadline_s``).

    A :class:`JudgeUnavailableError`, so every place that stops (or checkpoints) on an outage treats
    it the same way.
    """

    def __init__(self, endpoint: str, deadline_s: float, unanswered: int, total: int) -> None:
        self.endpoint = endpoint
        self.deadline_s = deadline_s
        self.unanswered = unanswered
        self.total = total
        self.attempts = 0  # requests were still running when the deadline passed
        self.reason = f"no verdict within the judge deadline of {deadline_s:g} s"
        self.role = JUDGE
        JudgeError.__init__(
            self,
            f"judge at {endpoint} left {unanswered} of {total} request(s) of this reward batch "
            f"unanswered after the judge deadline of {deadline_s:g} s. Check that the judge server is "
            "up and not overloaded; raise judge_deadline_s if batches legitimately take longer, or set "
            "on_judge_error: skip to leave those rollouts unscored.",
        )
