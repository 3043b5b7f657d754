"""Score a JSONL file of rollouts with the composite reward (what ``medix-r1 reward score`` runs).

Input rows carry ``response`` and ``solution`` (``"<TAG> answer"``; a separate ``modality`` field is
also accepted). Output rows keep every input field and add ``overall, format, accuracy_llm,
accuracy_embed, modality`` (null when unscored) and ``judge_prompt_hash`` (the hash of the judge's
prompt template, the key evaluation rows carry too); an input ``modality`` field is kept as
``input_modality``, since ``modality`` in the output is the modality reward. Rows are scored in
pipelined chunks and each chunk is flushed to ``OUTPUT.partial`` as soon as it is done; the output
is replaced only when every row is scored, so an outage or a kill midway keeps every row scored
before it and leaves an older output intact, and the next run resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medix_r1.asyncio_bridge import run_sync
from medix_r1.errors import MedixError
from medix_r1.rewards.composite import COMPONENT_NAMES, CompositeReward
from medix_r1.rewards.inputs import RewardInputError, compose_solution

__all__ = ["RolloutFileError", "ScoreSummary", "partial_path", "read_rollouts", "score_file"]

OUTPUT_KEYS = ("overall", *COMPONENT_NAMES)


class RolloutFileError(MedixError, ValueError):
    """A row of the input file that cannot be scored; names the file, line and field."""


def read_rollouts(path: str | Path) -> list[dict[str, Any]]:
    """Read and check every row up front, so a bad row fails before any judge request is made."""
    path = Path(path)
    rows: list[dict[str, Any]] = []
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RolloutFileError(f"{path}: cannot read ({exc.strerror})") from None
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RolloutFileError(f"{path}:{number}: not valid UTF-8 (byte {exc.start})") from None
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RolloutFileError(f"{path}:{number}: invalid JSON ({exc.msg}, column {exc.colno})") from None
        if not isinstance(row, dict):
            raise RolloutFileError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
        where = f"{path}:{number}" + (f" (id {row['id']!r})" if "id" in row else "")
        response = row.get("response")
        if not isinstance(response, str):
            raise RolloutFileError(f"{where}: field 'response' must be a string, got {_kind(response)}")
        solution = row.get("solution")
        if not isinstance(solution, str):
            raise RolloutFileError(f"{where}: field 'solution' must be a string, got {_kind(solution)}")
        modality = row.get("modality")
        if modality is not None and not isinstance(modality, str):
            raise RolloutFileError(f"{where}: field 'modality' must be a string, got {_kind(modality)}")
        try:
            compose_solution(solution, modality)
        except RewardInputError as exc:
            raise RolloutFileError(f"{where}: {exc}") from None
        rows.append(row)
    return rows


def _kind(value: Any) -> str:
    return "nothing (missing)" if value is None else type(value).__name__


@dataclass
class ScoreSummary:
    """What a scoring run did; ``scoring_seconds`` excludes loading the embedder."""

    rollouts: int = 0
    scoring_seconds: float = 0.0
    load_seconds: float = 0.0
    unscored: int = 0
    means: dict[str, float | None] = field(default_factory=dict)
    judge: dict[str, float] = field(default_factory=dict)
    preset: str = ""
    embedding_strings_encoded: int = 0
    resumed: int = 0

    @property
    def rollouts_per_second(self) -> float:
        return self.rollouts / self.scoring_seconds if self.scoring_seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "rollouts": self.rollouts,
            "resumed_rows": self.resumed,
            "scoring_seconds": round(self.scoring_seconds, 4),
            "rollouts_per_second": round(self.rollouts_per_second, 2),
            "load_seconds": round(self.load_seconds, 3),
            "preset": self.preset,
            "judge_requests": self.judge.get("requests", 0),
            "judge_cache_hits": self.judge.get("cache_hits", 0),
            "judge_deduplicated": self.judge.get("deduplicated", 0),
            "judge_retries": self.judge.get("retries", 0),
            "judge_unparseable": self.judge.get("unparseable", 0),
            "judge_failures": self.judge.get("failures", 0),
            "judge_mean_latency_ms": self.judge.get("mean_latency_ms", 0.0),
            "embedding_strings_encoded": self.embedding_strings_encoded,
            "unscored": self.unscored,
            "means": self.means,
        }


def _output_row(
    row: dict[str, Any], result: dict[str, float | None], judge_prompt_hash: str | None
) -> dict[str, Any]:
    # The output column `modality` is the modality *reward*; an input `modality` field (the
    # reference tag) is kept under `input_modality` instead of being overwritten.
    out = dict(row)
    if "modality" in out:
        out["input_modality"] = out.pop("modality")
    out.update((k, result.get(k)) for k in OUTPUT_KEYS)
    out["judge_prompt_hash"] = judge_prompt_hash  # as in evaluation rows: a changed judge prompt shows
    return out


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _warm_up(reward: CompositeReward) -> float:
    """Load the embedder and run its first forward pass before the clock starts (the first pass of a
    freshly loaded model costs several batches' worth: allocation, kernel selection). Returns seconds."""
    started = time.perf_counter()
    embed = reward.component("accuracy_embed")
    load = getattr(embed.embedder, "load", None)
    if load is not None:
        load()
        embed.embedder.encode(["warm-up: left lower lobe consolidation", "warm-up"])
    return time.perf_counter() - started


async def _score_pipelined(
    chunks: list[list[dict[str, Any]]],
    reward: CompositeReward,
    write: Callable[[list[dict[str, Any]], list[dict[str, float | None]]], None],
    depth: int,
) -> None:
    """Score chunks with up to ``depth`` in flight and hand each to ``write`` in input order.

    Within a chunk the judge requests and the encoding already run together; across chunks, chunk
    k+1 is encoded while chunk k's judge replies are still arriving, so the encoder never waits for
    the judge's tail (embedders encode one call at a time). A failure cancels the chunks in flight:
    only chunks before it are written.
    """
    in_flight: deque[tuple[list[dict[str, Any]], asyncio.Task]] = deque()

    def start(chunk: list[dict[str, Any]]) -> None:
        coro = reward.ascore(
            [r["response"] for r in chunk],
            [r["solution"] for r in chunk],
            [r.get("modality") for r in chunk],
        )
        in_flight.append((chunk, asyncio.ensure_future(coro)))

    pending = iter(chunks)
    try:
        for chunk in pending:
            start(chunk)
            if len(in_flight) >= depth:
                break
        while in_flight:
            chunk, task = in_flight.popleft()
            scored = await task
            nxt = next(pending, None)
            if nxt is not None:
                start(nxt)
            write(chunk, scored)
    finally:
        for _, task in in_flight:
            task.cancel()
        if in_flight:
            await asyncio.gather(*(t for _, t in in_flight), return_exceptions=True)


def partial_path(output_path: str | Path) -> Path:
    """Where rows are written while a run is in progress: ``OUTPUT.partial`` beside the output."""
    output_path = Path(output_path)
    return output_path.with_name(output_path.name + ".partial")


def _reward_identity(reward: CompositeReward) -> dict[str, Any]:
    """What decides the scores; a resumed run must match the run that wrote the partial file."""
    judge = reward.component("accuracy_llm").judge
    embed = reward.component("accuracy_embed")
    return {
        "preset": reward.preset,
        "weights": reward.weights,
        "judge": getattr(judge.backend, "identity", type(judge.backend).__name__),
        "judge_template": reward.judge_prompt_hash,
        "embedder": getattr(embed.embedder, "identity", type(embed.embedder).__name__),
    }


def _resume(partial: Path, meta: Path, rows: list[dict[str, Any]], identity: dict[str, Any]) -> list[dict]:
    """Output rows of an interrupted run of the same input and reward (``[]`` when there is none).

    A last line cut short by a kill is dropped (and scored again); a partial file of another input
    or reward is an error naming it, never silently mixed in or deleted.
    """
    if not partial.exists():
        return []
    try:
        recorded = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recorded = None
    if recorded != identity:
        raise RolloutFileError(
            f"{partial}: rows of an interrupted run scored with other reward settings "
            f"({recorded} != {identity}); delete it (and {meta.name}) to start over"
        )
    done: list[dict[str, Any]] = []
    data = partial.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    for number, line in enumerate(complete.splitlines(), start=1):
        try:
            row = json.loads(line)
        except ValueError:
            raise RolloutFileError(
                f"{partial}:{number}: not a scored row; delete the file to start over"
            ) from None
        if number > len(rows) or any(
            row.get(k) != rows[number - 1].get(k) for k in ("id", "response", "solution")
        ):
            raise RolloutFileError(
                f"{partial}:{number}: this row is not row {number} of the input; the partial file belongs "
                "to another input: delete it to start over"
            )
        done.append(row)
    if len(complete) != len(data):  # cut short by a kill: rewrite without the torn line
        partial.write_bytes(complete)
    return done


def score_file(
    input_path: str | Path,
    output_path: str | Path,
    reward: CompositeReward,
    *,
    chunk_size: int = 512,
    pipeline_depth: int = 2,
    on_progress: Callable[[int, int], None] | None = None,
) -> ScoreSummary:
    """Score ``input_path`` into ``output_path`` and return the summary.

    Rows go to ``OUTPUT.partial`` (flushed after each chunk), which replaces ``output_path`` only
    when every row is scored: a run that fails (judge down under ``raise``, bad settings, a kill)
    leaves an existing output untouched, and the next run with the same input and reward resumes
    from the partial file (rows already scored are kept, not scored again).

    Raises :class:`RolloutFileError` for bad or empty input (before scoring anything) and the
    judge's error when it is down and the policy is ``raise``. ``scoring_seconds`` starts after the
    embedder is loaded and warmed up.
    """
    if chunk_size < 1 or pipeline_depth < 1:
        raise ValueError(f"chunk_size and pipeline_depth must be >= 1, got {chunk_size} and {pipeline_depth}")
    rows = read_rollouts(input_path)
    if not rows:
        raise RolloutFileError(f"{input_path}: no rollouts to score (the file has no rows)")
    output_path = Path(output_path)
    partial = partial_path(output_path)
    meta = partial.with_name(partial.name + ".json")
    identity = _reward_identity(reward)
    previous = _resume(partial, meta, rows, identity)

    summary = ScoreSummary(rollouts=len(rows), preset=reward.preset, resumed=len(previous))
    summary.load_seconds = _warm_up(reward)
    embed = reward.component("accuracy_embed")
    encoded_before = embed.strings_encoded

    sums = dict.fromkeys(OUTPUT_KEYS, 0.0)
    counts = dict.fromkeys(OUTPUT_KEYS, 0)

    def count(result: dict[str, Any]) -> None:
        if any(result[k] is None for k in OUTPUT_KEYS if k in result):
            summary.unscored += 1
        for key in OUTPUT_KEYS:
            value = result.get(key)
            if value is not None:
                sums[key] += value
                counts[key] += 1

    for row in previous:
        count(row)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps(identity), encoding="utf-8")
    done = len(previous)
    with partial.open("a", encoding="utf-8") as out:

        def write(chunk: list[dict[str, Any]], scored: list[dict[str, float | None]]) -> None:
            nonlocal done
            for row, result in zip(chunk, scored, strict=True):
                count(result)
                out.write(
                    json.dumps(_output_row(row, result, identity["judge_template"]), ensure_ascii=False)
                )
                out.write("\n")
            out.flush()
            done += len(chunk)
            if on_progress is not None:
                on_progress(done, len(rows))

        started = time.perf_counter()
        try:
            todo = rows[len(previous) :]
            run_sync(_score_pipelined(list(_chunks(todo, chunk_size)), reward, write, pipeline_depth))
        finally:
            summary.scoring_seconds = time.perf_counter() - started
    partial.replace(output_path)
    meta.unlink(missing_ok=True)
    summary.means = {k: (round(sums[k] / counts[k], 6) if counts[k] else None) for k in OUTPUT_KEYS}
    judge = reward.component("accuracy_llm").judge
    summary.judge = judge.stats.as_dict()
    summary.embedding_strings_encoded = embed.strings_encoded - encoded_before
    return summary
