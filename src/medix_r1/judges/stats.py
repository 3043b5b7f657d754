"""Counters every judge backend keeps, summed into run summaries and training metrics."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class JudgeStats:
    """Counters of one judge. ``requests`` counts calls that reached the backend (not retries)."""

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
