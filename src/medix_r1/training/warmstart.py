"""A short supervised warm-start on the output format (the quickstart's first phase).

Not part of the published recipe (which starts RL from instruction-tuned Qwen3-VL models that can
already write). A tiny random VLM cannot discover the tag grammar by sampling in minutes, so the
quickstart first teaches the *shape* of a reply with plain next-token training on targets::

    <TAG><thinking>{fixed reasoning sentence}</thinking><answer>{reference answer}</answer>

With ``tag_policy="random"`` the tag of each target is drawn at random (seeded) from the tags that
occur in the training records, independently of the image and the question: the warm-start teaches
that a reply opens with one of these tags, but never which tag fits which image. Whatever modality
recognition the policy shows afterwards was learned from the modality reward during RL.

The loss covers the reply tokens only (the prompt, image tokens included, is context).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from medix_r1.parsing import ResponseFormat

if TYPE_CHECKING:  # pragma: no cover
    from medix_r1.training.config import WarmStartSection

__all__ = ["WarmStartResult", "warmstart_target", "run_warmstart", "run_configured_warmstart"]


@dataclass
class WarmStartResult:
    steps: int
    seconds: float
    first_loss: float
    last_loss: float
    tags: tuple[str, ...]


def _modality_words(tag: str) -> str:
    """The modality in plain words (``<MRI_SCAN>`` -> ``MRI``), for reasoning templates with ``{modality}``."""
    from medix_r1.modality import UnknownModalityError, resolve_modality

    try:
        return resolve_modality(tag).label
    except UnknownModalityError:
        return tag.strip("<>").replace("_", " ").lower()


def warmstart_target(answer: str, tag: str, fmt: ResponseFormat, reasoning: str) -> str:
    """The reply text a warm-start row is trained on.

    >>> from medix_r1.parsing import THINKING
    >>> warmstart_target("Chest", "<X_RAY>", THINKING, "I look.")
    '<X_RAY><thinking>I look.</thinking><answer>Chest</answer>'
    """
    return f"{tag}{fmt.think_open}{reasoning}{fmt.think_close}{fmt.answer_open}{answer}{fmt.answer_close}"


def run_warmstart(
    model: Any,
    processor: Any,
    rows: Sequence[dict[str, Any]],
    fmt: ResponseFormat,
    *,
    steps: int,
    batch_size: int,
    learning_rate: float,
    tag_policy: str = "random",
    reasoning: str = "I read the image and the question.",
    seed: int = 0,
    progress: bool = True,
) -> WarmStartResult:
    """Train ``model`` in place on the format targets of ``rows`` (dataset rows with ``solution``)."""
    import time

    import torch

    from medix_r1.models.generation import row_prompt
    from medix_r1.parsing import split_solution

    rng = random.Random(seed)
    tags = tuple(sorted({r["modality"] for r in rows}))
    tokenizer = getattr(processor, "tokenizer", processor)
    eos = tokenizer.eos_token or ""
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # targets end every row, so the loss needs only the last positions
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 10))
    order: list[int] = []
    losses: list[float] = []
    bar: Any = range(steps)
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(bar, desc="warm-start (format)", unit="step", dynamic_ncols=True)
    started = time.perf_counter()
    try:
        for _ in bar:
            batch = []
            for _ in range(batch_size):
                if not order:
                    order = list(range(len(rows)))
                    rng.shuffle(order)
                batch.append(rows[order.pop()])
            prompts, targets, images = [], [], []
            for row in batch:
                tag = rng.choice(tags) if tag_policy == "random" else row["modality"]
                answer = split_solution(row["solution"])[1] or ""
                reasoning_text = (
                    reasoning.format(modality=_modality_words(row["modality"]))
                    if "{" in reasoning
                    else reasoning
                )
                prompt, row_images = row_prompt(processor, row)
                target = warmstart_target(answer, tag, fmt, reasoning_text) + eos
                prompts.append(prompt + target)
                targets.append(target)
                images.append(row_images)
            enc = processor(
                text=prompts, images=images, return_tensors="pt", padding=True, add_special_tokens=False
            )
            target_lens = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in targets]
            keep = max(target_lens) + 1
            labels = enc["input_ids"][:, -keep:].clone()
            for i, n in enumerate(target_lens):
                labels[i, : keep - n] = -100
            out = model(**enc, logits_to_keep=keep)
            logits = out.logits[:, :-1].float()
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1), ignore_index=-100
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
            if progress:
                bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
    finally:
        tokenizer.padding_side = side
    model.eval()
    tail = losses[-max(1, len(losses) // 10) :]
    return WarmStartResult(
        steps=steps,
        seconds=time.perf_counter() - started,
        first_loss=losses[0] if losses else float("nan"),
        last_loss=sum(tail) / len(tail) if tail else float("nan"),
        tags=tags,
    )


def run_configured_warmstart(
    model: Any,
    processor: Any,
    rows: Sequence[dict[str, Any]],
    fmt: ResponseFormat,
    section: WarmStartSection,
    *,
    seed: int,
    progress: bool = True,
) -> WarmStartResult:
    """:func:`run_warmstart` with the settings of a config's ``warmstart`` section."""
    return run_warmstart(
        model,
        processor,
        rows,
        fmt,
        steps=section.steps,
        batch_size=section.batch_size,
        learning_rate=section.learning_rate,
        tag_policy=section.tag_policy,
        reasoning=section.reasoning,
        seed=seed,
        progress=progress,
    )
