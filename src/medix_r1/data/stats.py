"""Summaries of a record set: counts per modality tag, source, split, answer length, images per record.

Behind ``medix-r1 data stats FILE`` (a rich table, and a PNG chart with ``--chart``).

>>> from medix_r1.data.schema import MedixRecord
>>> recs = [MedixRecord("a", ["x.png"], "s1", "<image> q", "<CT_SCAN> Liver"),
...         MedixRecord("b", [], "s2", "q", "<X_RAY> Left lower lobe")]
>>> s = dataset_stats(recs)
>>> s.by_modality, s.answer_words, s.images_per_record
({'<CT_SCAN>': 1, '<X_RAY>': 1}, {1: 1, 3: 1}, {0: 1, 1: 1})
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medix_r1.data.schema import MedixRecord
from medix_r1.errors import MedixError
from medix_r1.files import atomic_path

__all__ = ["DatasetStats", "dataset_stats", "stats_tables", "plot_stats", "chart_path", "ChartPathError"]

CHART_FORMATS = (".png", ".svg", ".pdf")


class ChartPathError(MedixError, ValueError):
    """``--chart`` names a folder or a format the chart cannot be written in."""


def chart_path(path: str | os.PathLike[str]) -> Path:
    """The file the chart will really be written to: ``.png`` added when the name has no suffix.

    >>> chart_path("stats"), chart_path("out/stats.svg")
    (PosixPath('stats.png'), PosixPath('out/stats.svg'))
    >>> chart_path("x.txt")
    Traceback (most recent call last):
    ...
    medix_r1.data.stats.ChartPathError: --chart x.txt: a chart is written as .png, .svg or .pdf (e.g. x.png)
    """
    out = Path(path)
    if out.is_dir():
        raise ChartPathError(f"--chart {out} is a folder: give a file name, e.g. {out / 'stats.png'}")
    if not out.suffix:
        return out.with_name(out.name + ".png")
    if out.suffix.lower() not in CHART_FORMATS:
        raise ChartPathError(
            f"--chart {out}: a chart is written as .png, .svg or .pdf (e.g. {out.with_suffix('.png')})"
        )
    return out


@dataclass(frozen=True)
class DatasetStats:
    """Counts over a record set; dictionaries are sorted by key for stable output."""

    records: int
    by_modality: dict[str, int]
    by_source: dict[str, int]
    by_split: dict[str, int]
    answer_words: dict[int, int]
    images_per_record: dict[int, int]

    @property
    def mean_answer_words(self) -> float:
        total = sum(self.answer_words.values())
        return sum(k * v for k, v in self.answer_words.items()) / total if total else 0.0


def _sorted(counter: Counter[Any]) -> dict[Any, int]:
    return dict(sorted(counter.items()))


def dataset_stats(records: Iterable[MedixRecord]) -> DatasetStats:
    """Count the records by modality tag, source, split, answer length (words) and image count."""
    modality: Counter[str] = Counter()
    source: Counter[str] = Counter()
    split: Counter[str] = Counter()
    words: Counter[int] = Counter()
    images: Counter[int] = Counter()
    n = 0
    for record in records:
        n += 1
        modality[record.tag] += 1
        source[record.source] += 1
        split[record.split or "-"] += 1
        words[len(record.answer.split())] += 1
        images[len(record.image)] += 1
    return DatasetStats(
        n, _sorted(modality), _sorted(source), _sorted(split), _sorted(words), _sorted(images)
    )


def _length_buckets(answer_words: dict[int, int]) -> dict[str, int]:
    buckets = {"1": 0, "2-3": 0, "4-7": 0, "8-15": 0, "16+": 0}
    for length, count in answer_words.items():
        key = (
            "1"
            if length <= 1
            else "2-3"
            if length <= 3
            else "4-7"
            if length <= 7
            else "8-15"
            if length <= 15
            else "16+"
        )
        buckets[key] += count
    return buckets


def stats_tables(stats: DatasetStats, title: str = "") -> list[Any]:
    """Rich tables for a terminal: one per count."""
    from rich.markup import escape
    from rich.table import Table

    def table(name: str, counts: dict[Any, int]) -> Table:
        t = Table(title=f"{title} {name}".strip(), title_justify="left")
        t.add_column(name)
        t.add_column("records", justify="right")
        t.add_column("share", justify="right")
        for key, count in counts.items():
            # a cell is rich markup: escape it so a source named "[bold]" shows as written
            t.add_row(escape(str(key)), str(count), f"{100 * count / max(stats.records, 1):.1f}%")
        return t

    return [
        table("modality", stats.by_modality),
        table("source", stats.by_source),
        table("split", stats.by_split),
        table("answer words", _length_buckets(stats.answer_words)),
        table("images per record", stats.images_per_record),
    ]


def plot_stats(stats: DatasetStats, path: str | os.PathLike[str], title: str = "") -> Path:
    """A PNG with bar charts of modality, answer length and images per record; returns the file written
    (:func:`chart_path`: ``.png`` is added to a name without a suffix). Written whole or not at all."""
    out = chart_path(path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    panels = (
        ("records per modality", {k.strip("<>"): v for k, v in stats.by_modality.items()}),
        ("answer length (words)", _length_buckets(stats.answer_words)),
        ("images per record", {str(k): v for k, v in stats.images_per_record.items()}),
    )
    for ax, (name, counts) in zip(axes, panels, strict=True):
        ax.bar(list(counts), list(counts.values()), color="#3b7dd8")
        ax.set_title(name)
        ax.tick_params(axis="x", labelrotation=45)
    fig.suptitle(title or f"{stats.records} records")
    fig.tight_layout()
    try:
        with atomic_path(out) as tmp:
            fig.savefig(
                tmp, dpi=80, format=out.suffix[1:].lower(), metadata=_METADATA.get(out.suffix.lower())
            )
    finally:
        plt.close(fig)
    return out


_METADATA = {".png": {"Software": None}, ".svg": {"Date": None}, ".pdf": {"CreationDate": None}}
