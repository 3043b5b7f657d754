"""Judge failures. A failure is never a verdict: it is raised, or reported as "unscored"."""

from __future__ import annotations


class JudgeError(RuntimeError):
    """Base class of judge failures."""


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


class JudgeConfigError(JudgeError):
    """The judge refused the request itself (bad key, unknown model, bad URL): retrying cannot help."""

    def __init__(self, endpoint: str, status: int, detail: str) -> None:
        self.endpoint = endpoint
        self.status = status
        super().__init__(f"judge at {endpoint} rejected the request with HTTP {status}: {detail}")
