"""Counters every chat client keeps, summed into run summaries and training metrics.

``requests``, ``retries``, ``failures`` and ``latency_s`` are the client's; ``unparseable``,
``cache_hits`` and ``deduplicated`` are added by the judge that wraps it (one set of counters per
judge: transport and verdict level). :mod:`medix_r1.judges` calls this class ``JudgeStats``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["ChatStats"]


@dataclass
class ChatStats:
    """Counters of one client. ``requests`` counts calls that reached the backend (not retries)."""

    requests: int = 0
    retries: int = 0
    failures: int = 0
    unparseable: int = 0
    cache_hits: int = 0
    deduplicated: int = 0
    latency_s: float = 0.0

    def as_dict(self) -> dict[str, float]:
        out = asdict(self)
        out["mean_latency_ms"] = round(1000 * self.latency_s / self.requests, 3) if self.requests else 0.0
        return out

    def reset(self) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, type(getattr(self, name))())
