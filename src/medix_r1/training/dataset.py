"""Training rows from MediX records: the prompt as chat messages, the decoded images, and the columns
the rewards read (``solution``, ``modality``).

TRL's ``GRPOTrainer`` takes a ``datasets.Dataset`` whose ``prompt`` column is a conversation and whose
``images`` column holds the pictures (it fills the ``{"type": "image"}`` parts in order); every
other column reaches the reward functions by keyword (STYLE.md rule 1).

>>> from medix_r1.data import MedixRecord
>>> rec = MedixRecord.from_dict({"id": "r1", "image": ["x.png"], "source": "t",
...                              "problem": "<image>\\nWhich organ?", "solution": "<CT_SCAN> Liver"})
>>> row = record_to_row(rec, load_images=False)
>>> row["solution"], row["modality"], row["id"]
('<CT_SCAN> Liver', '<CT_SCAN>', 'r1')
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medix_r1.parsing import THINKING, ResponseFormat
from medix_r1.prompting import build_prompt_messages

if TYPE_CHECKING:
    from datasets import Dataset
    from PIL.Image import Image

    from medix_r1.data import MedixRecord
    from medix_r1.training.config import TrainConfig

__all__ = [
    "load_training_records",
    "balance_by_modality",
    "rl_prompt_records",
    "rl_prompt_options",
    "rl_prompts_ordered",
    "record_to_row",
    "build_rl_dataset",
    "resize_longest",
]


def resize_longest(image: Image, max_side: int | None) -> Image:
    """``image`` scaled down (never up) so its longest side is at most ``max_side`` pixels."""
    if not max_side or max(image.size) <= max_side:
        return image
    scale = max_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    from PIL import Image as PILImage

    return image.resize(size, PILImage.Resampling.BICUBIC)


def load_training_records(
    source: str | os.PathLike[str],
    *,
    split: str | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> list[MedixRecord]:
    """Records of a data source (file, folder, hub id; ``"samples"`` = the bundled sample set).

    ``limit`` keeps a seeded random subset of that many records (the order is kept).
    """
    from medix_r1.data import load_records

    source = str(source)
    if source in ("samples", "samples:train", "samples:test"):
        from medix_r1.data import ensure_samples
        from medix_r1.models.cache import samples_cache_dir

        info = ensure_samples(samples_cache_dir())
        path: str | Path = info.test_path if source.endswith(":test") or split == "test" else info.train_path
        records = load_records(path, resolve_images=True)
    else:
        records = load_records(source, split=split, resolve_images=True)
    if limit is not None and limit < len(records):
        keep = sorted(random.Random(seed).sample(range(len(records)), limit))
        records = [records[i] for i in keep]
    return records


def balance_by_modality(
    records: Sequence[MedixRecord], seed: int = 0, power: float = 1.0
) -> list[MedixRecord]:
    """Oversample so that every modality tag has as many records as the most frequent one.

    ``power`` tempers the balance: a tag with ``n`` records gets ``n * (most / n) ** power`` of them
    (1: all tags equal, 0: as found, 0.5: rare tags raised halfway on a log scale).

    Each tag's records are repeated whole, then topped up with a seeded sample of them; the result
    is shuffled. Rare modalities are seen as often as common ones, so a policy cannot earn the
    modality reward by always naming the majority tag.

    >>> from medix_r1.data import MedixRecord
    >>> recs = [MedixRecord.from_dict({"id": str(i), "image": ["x.png"], "source": "t", "problem": "<image> q",
    ...         "solution": tag + " a"}) for i, tag in enumerate(["<CT_SCAN>"] * 3 + ["<X_RAY>"])]
    >>> sorted(r.tag for r in balance_by_modality(recs))
    ['<CT_SCAN>', '<CT_SCAN>', '<CT_SCAN>', '<X_RAY>', '<X_RAY>', '<X_RAY>']
    >>> sorted(r.tag for r in balance_by_modality(recs, power=0.5))  # 1 * (3 / 1) ** 0.5 = 1.7 -> 2
    ['<CT_SCAN>', '<CT_SCAN>', '<CT_SCAN>', '<X_RAY>', '<X_RAY>']
    """
    rng = random.Random(seed)
    by_tag: dict[str, list[MedixRecord]] = {}
    for record in records:
        by_tag.setdefault(record.tag, []).append(record)
    if not by_tag:
        return []
    most = max(len(group) for group in by_tag.values())
    out: list[MedixRecord] = []
    for tag in sorted(by_tag):
        group = by_tag[tag]
        target = round(len(group) * (most / len(group)) ** power)
        whole, extra = divmod(target, len(group))
        out.extend(group * whole)
        out.extend(rng.sample(group, extra))
    rng.shuffle(out)
    return out


def rl_prompt_records(
    records: Sequence[MedixRecord],
    *,
    balance: bool,
    power: float = 1.0,
    balanced_prompts: int | None = None,
    total_prompts: int | None = None,
    seed: int = 0,
) -> list[MedixRecord]:
    """The RL prompts, in the order a trainer must use them when ``balanced_prompts`` is set
    (:func:`rl_prompts_ordered` says so for a config); otherwise in any order.

    Without ``balance`` they are ``records`` as found. With it, :func:`balance_by_modality`
    oversamples them (at ``power``). With ``balanced_prompts`` too, the first that many prompts are
    fully balanced and the rest (up to ``total_prompts``) are balanced at ``power`` only (0: the
    records as found), each part reshuffled on every pass, in that order. Fully balanced prompts first
    keep a policy that cannot yet tell images apart from settling on the majority tag; the later
    prompts then weigh the images closer to how often the data hold them.

    >>> from medix_r1.data import MedixRecord
    >>> recs = [MedixRecord.from_dict({"id": str(i), "image": ["x.png"], "source": "t", "problem": "<image> q",
    ...         "solution": tag + " a"}) for i, tag in enumerate(["<CT_SCAN>"] * 3 + ["<X_RAY>"])]
    >>> out = rl_prompt_records(recs, balance=True, power=0, balanced_prompts=6, total_prompts=10)
    >>> len(out), sorted(r.tag for r in out[:6]).count("<X_RAY>"), sorted(r.tag for r in out[6:]).count("<X_RAY>")
    (10, 3, 1)
    """
    if not balance:
        return list(records)
    if balanced_prompts is None:
        return balance_by_modality(records, seed=seed, power=power)
    if total_prompts is None or total_prompts < balanced_prompts:
        raise ValueError(
            f"total_prompts ({total_prompts}) must be at least balanced_prompts ({balanced_prompts})"
        )
    rng = random.Random(seed)

    def passes(pool: Sequence[MedixRecord], count: int) -> list[MedixRecord]:
        out: list[MedixRecord] = []
        while len(out) < count and pool:
            order = list(pool)
            rng.shuffle(order)
            out.extend(order[: count - len(out)])
        return out

    first = passes(balance_by_modality(records, seed=seed), balanced_prompts)
    later = balance_by_modality(records, seed=seed, power=power)
    return first + passes(later, total_prompts - balanced_prompts)


def rl_prompt_options(config: TrainConfig) -> dict[str, Any]:
    """The keyword arguments of :func:`~medix_r1.training.dataset.rl_prompt_records` for ``config``."""
    data = config.data
    steps = data.balance_steps
    per_step = config.rollout.prompts_per_step
    return {
        "balance": data.balance_modalities,
        "power": data.balance_power,
        "balanced_prompts": None if steps is None else steps * per_step,
        "total_prompts": None if steps is None else max(steps, config.schedule.max_steps) * per_step,
        "seed": data.seed,
    }


def rl_prompts_ordered(config: TrainConfig) -> bool:
    """Whether the RL prompts come in a fixed order (balanced first, data.balance_steps)."""
    return config.data.balance_modalities and config.data.balance_steps is not None


def _load_record_images(record: MedixRecord, max_side: int | None) -> list[Image]:
    from medix_r1.data import open_image

    images = []
    for ref in record.image:
        # load_records(resolve_images=True) made paths absolute and checked them against the data folder.
        base = Path(ref).parent if isinstance(ref, str) and os.path.isabs(ref) else "."
        images.append(resize_longest(open_image(ref, base).convert("RGB"), max_side))
    return images


def record_to_row(
    record: MedixRecord,
    fmt: ResponseFormat = THINKING,
    *,
    template: str | None = None,
    system: str | None = None,
    image_max_side: int | None = None,
    load_images: bool = True,
) -> dict[str, Any]:
    """One training row: ``prompt`` (messages), ``images`` (PIL), ``solution``, ``modality``, ``id``."""
    n_slots = record.problem.count("<image>") or 1
    if load_images and len(record.image) != n_slots:
        raise ValueError(
            f"record {record.id!r}: {len(record.image)} image(s) but {n_slots} <image> placeholder(s) in "
            "'problem'; make them agree"
        )
    return {
        "id": record.id,
        "prompt": build_prompt_messages(record.problem, fmt, template=template, system=system),
        "images": _load_record_images(record, image_max_side) if load_images else list(record.image),
        "solution": record.solution,
        "modality": record.tag,
    }


def build_rl_dataset(
    records: Sequence[MedixRecord],
    fmt: ResponseFormat = THINKING,
    *,
    template: str | None = None,
    system: str | None = None,
    image_max_side: int | None = None,
) -> Dataset:
    """A ``datasets.Dataset`` for ``GRPOTrainer`` (images stored once, decoded to PIL on access)."""
    from datasets import Dataset, Features, Image, List, Value

    rows = [
        record_to_row(r, fmt, template=template, system=system, image_max_side=image_max_side)
        for r in records
    ]
    if not rows:
        raise ValueError("no training records: the data source is empty (or 'limit' is 0)")
    part = {"type": Value("string"), "text": Value("string")}
    features = Features(
        {
            "id": Value("string"),
            "prompt": List({"role": Value("string"), "content": List(part)}),
            "images": List(Image()),
            "solution": Value("string"),
            "modality": Value("string"),
        }
    )
    return Dataset.from_list(rows, features=features)
