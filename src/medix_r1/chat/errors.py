"""Failures of a chat client, named by the role of the model it talks to and by its endpoint.

One client class serves several roles: the **judge** (training reward, evaluation), the
**candidate** (the model an evaluation asks) and the **demo model**. A failure names its role, so an
outage of the candidate's server is never reported as a judge outage, and the endpoint (the URL, or
``transformers://...`` for an in-process model), so the message says which server to check.

The judge role's classes (:class:`JudgeError`, :class:`JudgeUnavailableError`,
:class:`JudgeConfigError`) live here because the client raises them; :mod:`medix_r1.judges.errors`
re-exports them beside the judge-only ones. A judge failure is both a :class:`JudgeError` and a
:class:`ChatError`, so ``except JudgeUnavailableError`` and ``except ChatUnavailableError`` both
catch it. Every class pickles with its fields (:class:`~medix_r1.errors.MedixError`): a judge outage
raised in a Ray reward worker reaches the driver as itself.

>>> str(ChatUnavailableError("http://gpu1:8000/v1/chat/completions", 3, "HTTP 503", role="candidate"))
'candidate at http://gpu1:8000/v1/chat/completions failed after 3 attempt(s): HTTP 503. Check that the candidate server is up and reachable.'
>>> type(unavailable_error("judge", "http://j/v1/chat/completions", 1, "timed out")).__name__
'JudgeUnavailableError'
"""

from __future__ import annotations

from medix_r1.errors import MedixError

__all__ = [
    "JUDGE",
    "CANDIDATE",
    "DEMO",
    "ROLES",
    "ChatError",
    "ChatUnavailableError",
    "ChatRejectedError",
    "JudgeError",
    "JudgeUnavailableError",
    "JudgeConfigError",
    "unavailable_error",
    "rejected_error",
]

#: The roles a chat client plays; each failure message names one.
JUDGE = "judge"
CANDIDATE = "candidate"
DEMO = "demo model"
ROLES: tuple[str, ...] = (JUDGE, CANDIDATE, DEMO)


class ChatError(MedixError, RuntimeError):
    """Base class of chat-client failures (``role`` and ``endpoint`` say whose and where)."""

    exit_code = 1  # the work stopped on an outside service, not on bad input


class ChatUnavailableError(ChatError):
    """The model could not answer after every retry (outage, overload, timeouts, garbage replies)."""

    def __init__(self, endpoint: str, attempts: int, reason: str, *, role: str = CANDIDATE) -> None:
        self.endpoint = endpoint
        self.attempts = attempts
        self.reason = reason
        self.role = role
        super().__init__(
            f"{role} at {endpoint} failed after {attempts} attempt(s): {reason}. "
            f"Check that the {role} server is up and reachable."
        )


class ChatRejectedError(ChatError):
    """The server refused the request itself (bad key, unknown model, bad URL): retrying cannot help."""

    def __init__(self, endpoint: str, status: int, detail: str, *, role: str = CANDIDATE) -> None:
        self.endpoint = endpoint
        self.status = status
        self.role = role
        super().__init__(f"{role} at {endpoint} rejected the request with HTTP {status}: {detail}")


class JudgeError(MedixError, RuntimeError):
    """Base class of judge failures."""

    exit_code = 1


class JudgeUnavailableError(JudgeError, ChatUnavailableError):
    """The judge could not answer after every retry (outage, overload, timeouts, garbage replies)."""

    def __init__(self, endpoint: str, attempts: int, reason: str) -> None:
        ChatUnavailableError.__init__(self, endpoint, attempts, reason, role=JUDGE)


class JudgeConfigError(JudgeError, ChatRejectedError):
    """The judge refused the request itself (bad key, unknown model, bad URL): retrying cannot help."""

    def __init__(self, endpoint: str, status: int, detail: str) -> None:
        ChatRejectedError.__init__(self, endpoint, status, detail, role=JUDGE)


def unavailable_error(role: str, endpoint: str, attempts: int, reason: str) -> ChatUnavailableError:
    """The "no answer" error of ``role``: :class:`JudgeUnavailableError` for the judge."""
    if role == JUDGE:
        return JudgeUnavailableError(endpoint, attempts, reason)
    return ChatUnavailableError(endpoint, attempts, reason, role=role)


def rejected_error(role: str, endpoint: str, status: int, detail: str) -> ChatRejectedError:
    """The "request refused" error of ``role``: :class:`JudgeConfigError` for the judge."""
    if role == JUDGE:
        return JudgeConfigError(endpoint, status, detail)
    return ChatRejectedError(endpoint, status, detail, role=role)
