"""The judge deadline: one bound on how long a reward batch may wait on the judge in total.

Per-request limits (``timeout_s`` x attempts, plus backoff and re-asks) do not bound a batch: a judge
that accepts connections and never answers held a 2,560-rollout batch for 308 s before the error
(issue 13), and the published reward file waits forever. The deadline is counted from the moment
a batch's first judge request is sent; when it passes, requests still waiting are cancelled and the
judge policy applies to their rollouts: ``raise`` stops with :class:`JudgeDeadlineError`, ``skip``
leaves them unscored (``None`` with the reason), never 0.

Default: 120 s. A healthy judge answers a whole batch in seconds (2,560 requests at 25 ms and 256
in flight take 0.25 s; a Qwen3-4B vLLM judge returning 4 tokens serves thousands of requests a
second), while a published 8B DAPO step on 8 GPUs (512 prompts x 5 rollouts of up to 4,096 tokens)
takes several minutes of rollout and update: waiting longer than two minutes on the judge means it
is down or badly overloaded, and half an RL step lost is the most an outage should cost.
"""

from __future__ import annotations

import time

__all__ = ["DEFAULT_JUDGE_DEADLINE_S", "Deadline"]

#: Seconds a reward batch may wait on the judge in total (``RewardConfig.judge_deadline_s``).
DEFAULT_JUDGE_DEADLINE_S = 120.0


class Deadline:
    """A point in time ``seconds`` after it was made, on the monotonic clock.

    >>> d = Deadline(60)
    >>> 59 < d.remaining() <= 60, d.expired()
    (True, False)
    >>> Deadline(None).remaining() is None
    True
    """

    def __init__(self, seconds: float | None) -> None:
        if seconds is not None and seconds <= 0:
            raise ValueError(f"a judge deadline must be > 0 seconds, got {seconds!r}")
        self.seconds = seconds
        self._end = None if seconds is None else time.monotonic() + seconds

    def remaining(self) -> float | None:
        """Seconds left (0 when passed), or ``None`` when there is no deadline."""
        if self._end is None:
            return None
        return max(0.0, self._end - time.monotonic())

    def expired(self) -> bool:
        remaining = self.remaining()
        return remaining is not None and remaining <= 0
