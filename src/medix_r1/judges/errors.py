"""Judge failures. A failure is never a verdict: it is raised, or reported as "unscored".

Every class here pickles with its message and fields (``MedixError``): a judge outage raised in a
Ray reward worker (verl, EasyR1) reaches the training driver as this class, not as Ray's
``UnserializableException``.
"""

from __future__ import annotations

from medix_r1.errors import MedixError


class JudgeError(MedixError, RuntimeError):
    """Base class of judge failures."""

    exit_code = 1  # the work stopped on an outside service, not on bad input


class JudgeUnavailableError(JudgeError):
    """The judge could not answer after every retry (outage, overload, timeouts, garbage replies)."""

    def __init__(self, endpoint: str, attempts: int, reason: str) -> None:
        self.endpoint = endpoint
        self.attempts = attempts
        self.reason = reason
        super().__init__(
            f"judge at {endpoint} failed after {attempts} attempt(s): {reason}. "
            "Check that the judge server is up and reachable."
        )


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
        JudgeError.__init__(
            self,
            f"judge at {endpoint} left {unanswered} of {total} request(s) of this reward batch "
            f"unanswered after the judge deadline of {deadline_s:g} s. Check that the judge server is "
            "up and not overloaded; raise judge_deadline_s if batches legitimately take longer, or set "
            "on_judge_error: skip to leave those rollouts unscored.",
        )


class JudgeConfigError(JudgeError):
    """The judge refused the request itself (bad key, unknown model, bad URL): retrying cannot help."""

    def __init__(self, endpoint: str, status: int, detail: str) -> None:
        self.endpoint = endpoint
        self.status = status
        super().__init__(f"judge at {endpoint} rejected the request with HTTP {status}: {detail}")
