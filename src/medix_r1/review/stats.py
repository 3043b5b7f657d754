"""Statistics of review votes: shares with item-level bootstrap intervals, Cohen's and Fleiss' kappa.

Pure Python, seeded, so a report is the same every time it is rebuilt from the same votes.

Shares (win / tie / loss / both unacceptable) are fractions of votes. Their 95% intervals come from a
percentile bootstrap that resamples *items* (each with all its votes), because votes on one item
are not independent (:func:`bootstrap_shares`).

>>> k = cohen_kappa(["y"] * 25 + ["n"] * 25, ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15)
>>> round(k.kappa, 6), k.observed, k.n
(0.4, 0.7, 50)
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Kappa",
    "Share",
    "cohen_kappa",
    "fleiss_kappa",
    "confusion_matrix",
    "bootstrap_shares",
    "pairwise_outcome",
    "consensus",
    "OUTCOMES",
]

#: Pairwise outcomes from model A's side.
OUTCOMES: tuple[str, ...] = ("win", "tie", "loss", "both_bad")


@dataclass(frozen=True)
class Kappa:
    kappa: float | None  # None when undefined (chance agreement is 1: one category only)
    observed: float | None  # observed agreement
    expected: float | None  # agreement expected by chance
    n: int  # items (pairs of ratings for Cohen; items with >= 2 ratings for Fleiss)
    ratings: int = 0  # ratings used (Fleiss)


@dataclass(frozen=True)
class Share:
    count: int
    total: int
    rate: float | None
    low: float | None
    high: float | None


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> Kappa:
    """Cohen's kappa of two raters' labels on the same items (``a[i]`` and ``b[i]`` rate item ``i``).

    >>> cohen_kappa(["x", "y"], ["x", "y"]).kappa
    1.0
    >>> cohen_kappa(["x", "x"], ["x", "x"]).kappa is None  # one category: chance agreement is 1
    True
    """
    if len(a) != len(b):
        raise ValueError(f"two raters need the same number of labels ({len(a)} vs {len(b)})")
    n = len(a)
    if n == 0:
        return Kappa(None, None, None, 0)
    po = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    pe = sum(ca[k] * cb[k] for k in set(ca) | set(cb)) / (n * n)
    kappa = None if math.isclose(pe, 1.0) else (po - pe) / (1.0 - pe)
    return Kappa(kappa, po, pe, n, 2 * n)


def fleiss_kappa(items: Sequence[Sequence[str]]) -> Kappa:
    """Fleiss' kappa over items rated by any number of raters (items with fewer than two ratings are
    left out; with a varying number of raters, each item's agreement uses its own count).

    >>> fleiss_kappa([["a", "a"], ["b", "b"], ["a", "a", "a"]]).kappa
    1.0
    >>> fleiss_kappa([["a"], ["b"]]).n
    0
    """
    rated = [list(x) for x in items if len(x) >= 2]
    if not rated:
        return Kappa(None, None, None, 0)
    totals: Counter[str] = Counter()
    agreement = []
    for labels in rated:
        m = len(labels)
        counts = Counter(labels)
        totals.update(counts)
        agreement.append((sum(c * c for c in counts.values()) - m) / (m * (m - 1)))
    ratings = sum(totals.values())
    p_bar = sum(agreement) / len(rated)
    pe = sum((c / ratings) ** 2 for c in totals.values())
    kappa = None if math.isclose(pe, 1.0) else (p_bar - pe) / (1.0 - pe)
    return Kappa(kappa, p_bar, pe, len(rated), ratings)


def confusion_matrix(rows: Sequence[str], cols: Sequence[str], labels: Sequence[str]) -> list[list[int]]:
    """Counts ``m[i][j]`` of pairs with ``rows[k] == labels[i]`` and ``cols[k] == labels[j]``.

    >>> confusion_matrix(["a", "a", "b"], ["a", "b", "b"], ["a", "b"])
    [[1, 1], [0, 1]]
    """
    index = {lab: i for i, lab in enumerate(labels)}
    m = [[0] * len(labels) for _ in labels]
    for r, c in zip(rows, cols, strict=True):
        if r not in index or c not in index:
            raise ValueError(f"label {r if r not in index else c!r} is not one of {list(labels)}")
        m[index[r]][index[c]] += 1
    return m


def bootstrap_shares(
    items: Sequence[Sequence[str]],
    categories: Sequence[str],
    *,
    resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Share]:
    """Share of votes in each category with a percentile bootstrap interval over items.

    ``items`` holds each item's votes (as category names). Every resample draws items with
    replacement and takes the share of the drawn votes.

    >>> s = bootstrap_shares([["win"], ["win"], ["win"]], ["win", "loss"])
    >>> (s["win"].rate, s["win"].low, s["win"].high), (s["loss"].rate, s["loss"].low, s["loss"].high)
    ((1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    """
    voted = [Counter(v) for v in items if len(v)]
    total = sum(sum(c.values()) for c in voted)
    if total == 0:
        return {k: Share(0, 0, None, None, None) for k in categories}
    counts = {k: sum(c[k] for c in voted) for k in categories}
    rng = random.Random(seed)
    draws: dict[str, list[float]] = {k: [] for k in categories}
    n = len(voted)
    sizes = [sum(c.values()) for c in voted]
    for _ in range(resamples):
        picks = [rng.randrange(n) for _ in range(n)]
        size = sum(sizes[i] for i in picks)
        for k in categories:
            draws[k].append(sum(voted[i][k] for i in picks) / size)
    alpha = (1.0 - confidence) / 2.0
    out = {}
    for k in categories:
        d = sorted(draws[k])
        lo = d[max(0, math.floor(alpha * resamples))]
        hi = d[min(resamples - 1, math.ceil((1.0 - alpha) * resamples) - 1)]
        out[k] = Share(counts[k], total, counts[k] / total, lo, hi)
    return out


def pairwise_outcome(choice: str, order: Sequence[str]) -> str:
    """A pairwise vote as model A's outcome, given the item's display order of the two slots.

    >>> pairwise_outcome("1", ["A", "B"]), pairwise_outcome("1", ["B", "A"]), pairwise_outcome("2", ["B", "A"])
    ('win', 'loss', 'win')
    >>> pairwise_outcome("tie", ["B", "A"]), pairwise_outcome("both_bad", ["A", "B"])
    ('tie', 'both_bad')
    """
    if choice in ("tie", "both_bad"):
        return choice
    if choice not in ("1", "2"):
        raise ValueError(f"pairwise choice {choice!r}: expected 1, 2, tie or both_bad")
    shown = order[int(choice) - 1]
    return "win" if shown == "A" else "loss"


def consensus(labels: Sequence[str]) -> str | None:
    """The most common label, or ``None`` when two labels tie for most votes (or there are none).

    >>> consensus(["a", "b", "a"]), consensus(["a", "b"]), consensus([])
    ('a', None, None)
    """
    if not labels:
        return None
    top = Counter(labels).most_common()
    if len(top) > 1 and top[0][1] == top[1][1]:
        return None
    return top[0][0]
