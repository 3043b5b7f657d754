"""The three phases of an evaluation run, as library functions over a run directory.

``generate`` -> ``<model>.jsonl``; ``judge`` -> ``<model>_eval.jsonl``; ``score`` -> ``<model>_score.txt``,
``scores.json`` and the reports. :func:`run_eval` runs any of them; with both ``generate`` and ``judge``
each sample is judged as soon as its reply arrives (interleaved), with at most ``concurrency`` samples
in flight, so a crash loses at most the samples in flight.

Resume: re-running the same command reads what is on disk and does only what is missing. A torn last
line (killed mid-write) is cut off and redone. A row whose content hash differs from the current
sample (edited dataset, other prompt or settings, other judge) stops the run with
:class:`~medix_r1.evaluation.files.StaleResultsError`, unless ``redo_changed`` drops and redoes it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from medix_r1.chat.errors import ChatRejectedError, ChatUnavailableError
from medix_r1.errors import MedixError
from medix_r1.evaluation.config import PHASES, EvalConfig
from medix_r1.evaluation.files import (
    JsonlAppender,
    RunLock,
    RunPaths,
    StaleResultsError,
    check_folder_owner,
    content_hash,
    read_rows,
    repair_rows,
    rewrite_rows,
)
from medix_r1.evaluation.judging import JudgeProtocol
from medix_r1.evaluation.prompts import JUDGE_PROMPT_HASH
from medix_r1.evaluation.scoring import Scores, compute_scores, format_score_table
from medix_r1.evaluation.tasks import EvalSample, TaskSpec
from medix_r1.files import write_text_atomic

__all__ = [
    "PHASES",
    "RunSummary",
    "EvalRunError",
    "BackendFailedError",
    "load_samples",
    "process_samples",
    "generate",
    "judge",
    "score",
    "run_eval",
    "run_configured",
]


class EvalRunError(MedixError, RuntimeError):
    """A phase stopped early; what finished is on disk and the same command resumes it."""


class BackendFailedError(MedixError, RuntimeError):
    """The candidate or the judge could not answer one sample (after its client's retries).

    Names the role (``candidate`` or ``judge``), its model and URL, and the sample, so an outage of
    one endpoint is never blamed on the other.
    """

    def __init__(self, role: str, model: str, endpoint: str, sample_id: str, reason: str) -> None:
        self.role = role
        self.model = model
        self.endpoint = endpoint
        self.sample_id = sample_id
        self.reason = reason
        super().__init__(
            f"the {role} ({model}) at {endpoint} failed on sample {sample_id}: {reason}. "
            f"Check that the {role} server is up and reachable"
        )

    @classmethod
    def wrap(cls, role: str, model: str, sample_id: str, exc: Exception) -> BackendFailedError:
        endpoint = getattr(exc, "endpoint", None) or "?"
        if isinstance(exc, ChatUnavailableError):
            reason = f"no answer after {exc.attempts} attempt(s) ({exc.reason})"
        elif isinstance(exc, ChatRejectedError):
            reason = f"request rejected with HTTP {exc.status}"
        else:
            reason = str(exc)
        return cls(role, model, endpoint, sample_id, reason)


@dataclass
class RunSummary:
    model: str
    samples: int = 0
    generated: int = 0
    judged: int = 0
    judge_failed: int = 0
    already_generated: int = 0
    already_judged: int = 0
    missing_generation: int = 0  # judge-only phase: samples without a reply yet
    torn_lines_repaired: int = 0
    duplicate_rows: int = 0
    stale_dropped: int = 0
    calls: int = 0  # chat requests sent by this process (generation + judge rounds)
    wall_s: float = 0.0
    cpu_s: float = 0.0
    error: str | None = None

    @property
    def cpu_ms_per_call(self) -> float | None:
        return 1000 * self.cpu_s / self.calls if self.calls else None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["cpu_ms_per_call"] = self.cpu_ms_per_call
        return out


def load_samples(
    tasks: list[TaskSpec], limit: int | None = None, *, yes_no_choices: bool = False
) -> list[EvalSample]:
    """All samples of the tasks, in task order (the first ``limit`` of each task when given).
    ``yes_no_choices``: see :meth:`TaskSpec._published_text` (off = published)."""
    out: list[EvalSample] = []
    for task in tasks:
        out += task.samples(limit=limit, yes_no_choices=yes_no_choices)
    return out


def _gen_hash(generator: Any) -> str:
    return content_hash(generator.settings())


def _generation_row(sample: EvalSample, response: str, gen_hash: str) -> dict[str, Any]:
    return {
        "id": sample.id,
        "question": sample.question,
        "answer": sample.answer,
        "response": response,
        "answer_idx": sample.answer_idx,
        "task": sample.task,
        "grading": sample.grading,
        "image": sample.image.describe() if sample.image is not None else None,
        "hash": sample.hash,
        "gen_hash": gen_hash,
    }


def _check_stale(
    samples: list[EvalSample],
    paths: RunPaths,
    gen_rows: dict[str, dict[str, Any]],
    eval_rows: dict[str, dict[str, Any]],
    *,
    gen_hash: str | None,
    judge_hash: str | None,
    redo_changed: bool,
    retry_failed: bool,
    summary: RunSummary,
) -> None:
    stale_gen: list[str] = []
    stale_eval: list[str] = []
    failed: list[str] = []
    for s in samples:
        g = gen_rows.get(s.id)
        if g is not None and (
            g.get("hash") != s.hash or (gen_hash is not None and g.get("gen_hash") != gen_hash)
        ):
            stale_gen.append(s.id)
        e = eval_rows.get(s.id)
        if e is None:
            continue
        if (
            e.get("hash") != s.hash
            or (judge_hash is not None and e.get("judge_hash") != judge_hash)
            or (g is not None and e.get("response") != g.get("response"))
            or s.id in stale_gen
        ):
            stale_eval.append(s.id)
        elif retry_failed and (e.get("evaluation") or {}).get("status") == "judge_failed":
            failed.append(s.id)
    if (stale_gen or stale_eval) and not redo_changed:
        if stale_gen:
            raise StaleResultsError(paths.generations, stale_gen, "content hash or generation settings")
        raise StaleResultsError(paths.judgements, stale_eval, "content hash, reply or judge settings")
    drop_gen, drop_eval = set(stale_gen), set(stale_eval) | set(failed)
    if drop_gen:
        for sid in drop_gen:
            gen_rows.pop(sid)
        rewrite_rows(paths.generations, list(gen_rows.values()))
    if drop_eval:
        for sid in drop_eval:
            eval_rows.pop(sid)
        rewrite_rows(paths.judgements, list(eval_rows.values()))
    summary.stale_dropped = len(drop_gen) + len(set(stale_eval))


async def process_samples(
    samples: list[EvalSample],
    paths: RunPaths,
    *,
    generator: Any | None = None,
    judge: JudgeProtocol | None = None,
    concurrency: int = 64,
    redo_changed: bool = False,
    retry_failed: bool = False,
    progress: Callable[[str], None] | None = None,
) -> RunSummary:
    """Generate and/or judge every unfinished sample, at most ``concurrency`` samples in flight.

    Raises :class:`EvalRunError` (after the samples in flight have finished and been written) when a
    backend is unreachable or a sample cannot be processed.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    counts = Counter(s.id for s in samples)
    if len(counts) != len(samples):
        dup = sorted(i for i, n in counts.items() if n > 1)[:5]
        raise ValueError(f"two tasks produce the same sample ids ({', '.join(dup)}): rename one task")
    summary = RunSummary(model=paths.model, samples=len(samples))
    started, cpu0 = time.perf_counter(), time.process_time()
    paths.dir.mkdir(parents=True, exist_ok=True)
    gen_read = read_rows(paths.generations)
    eval_read = read_rows(paths.judgements)
    summary.torn_lines_repaired = gen_read.torn + eval_read.torn
    summary.duplicate_rows = gen_read.duplicates + eval_read.duplicates
    gen_rows, eval_rows = gen_read.rows, eval_read.rows
    gen_hash = _gen_hash(generator) if generator is not None else None
    judge_hash = judge.judge_hash if judge is not None else None
    _check_stale(
        samples,
        paths,
        gen_rows,
        eval_rows,
        gen_hash=gen_hash,
        judge_hash=judge_hash,
        redo_changed=redo_changed,
        retry_failed=retry_failed,
        summary=summary,
    )

    pending: list[EvalSample] = []
    for s in samples:
        has_gen, has_eval = s.id in gen_rows, s.id in eval_rows
        summary.already_generated += has_gen
        summary.already_judged += has_eval
        need_gen = generator is not None and not has_gen
        need_eval = judge is not None and not has_eval
        if judge is not None and not has_gen and generator is None:
            summary.missing_generation += 1
            continue
        if need_gen or need_eval:
            pending.append(s)

    gen_out = JsonlAppender(paths.generations) if generator is not None else None
    eval_out = JsonlAppender(paths.judgements) if judge is not None else None
    errors: list[BaseException] = []
    stop = asyncio.Event()
    queue = iter(pending)
    finished: set[str] = set()

    async def handle(sample: EvalSample) -> None:
        row = gen_rows.get(sample.id)
        if row is None:
            assert generator is not None and gen_out is not None and gen_hash is not None
            try:
                response = await generator.generate(sample)
            except (ChatUnavailableError, ChatRejectedError) as exc:  # the chat client's errors
                raise BackendFailedError.wrap("candidate", _model_of(generator), sample.id, exc) from exc
            summary.calls += 1
            row = _generation_row(sample, response, gen_hash)
            gen_out.append(row)
            gen_rows[sample.id] = row
            summary.generated += 1
            if progress:
                progress("generated")
        if judge is not None and sample.id not in eval_rows:
            assert eval_out is not None
            try:
                verdict = await judge.judge(row["question"], row["answer"], row["response"], sample.grading)
            except (ChatUnavailableError, ChatRejectedError) as exc:
                raise BackendFailedError.wrap("judge", str(judge.model), sample.id, exc) from exc
            summary.calls += len(verdict.replies)
            out = dict(row)
            out["evaluation"] = verdict.as_row()
            out["judge_model"] = judge.model
            out["judge_prompt_hash"] = JUDGE_PROMPT_HASH
            out["judge_hash"] = judge_hash
            eval_out.append(out)
            eval_rows[sample.id] = out
            if verdict.status == "ok":
                summary.judged += 1
            else:
                summary.judge_failed += 1
            if progress:
                progress("judged")
        finished.add(sample.id)

    async def worker() -> None:
        for sample in queue:
            if stop.is_set():
                return
            try:
                await handle(sample)
            except Exception as exc:  # any failure stops the run; it is re-raised below, never dropped
                errors.append(exc)
                stop.set()
                return

    try:
        await asyncio.gather(*(worker() for _ in range(min(concurrency, max(1, len(pending))))))
    finally:
        for appender in (gen_out, eval_out):
            if appender is not None:
                appender.close()
        summary.wall_s = time.perf_counter() - started
        summary.cpu_s = time.process_time() - cpu0
    if errors:
        first = errors[0]
        summary.error = (
            str(first).rstrip(".")
            if isinstance(first, BackendFailedError)
            else f"{type(first).__name__}: {str(first).rstrip('.')}"
        )
        left = len(pending) - len(finished)
        raise EvalRunError(
            f"stopped after {len(errors)} failure(s); the first: {summary.error}. "
            f"Finished samples are saved in {paths.dir}; run the same command again to resume "
            f"({left} of {len(samples)} sample(s) still to do)."
        ) from first
    return summary


def _run(coro: Any) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    raise RuntimeError("called from a running event loop: await process_samples(...) instead")


def generate(samples: list[EvalSample], paths: RunPaths, generator: Any, **kwargs: Any) -> RunSummary:
    """Phase 1: write a reply for every sample not yet in ``<model>.jsonl`` (holding the folder's lock)."""
    with RunLock(paths.dir):
        check_folder_owner(paths)
        return _run(process_samples(samples, paths, generator=generator, **kwargs))


def judge(samples: list[EvalSample], paths: RunPaths, judge: JudgeProtocol, **kwargs: Any) -> RunSummary:
    """Phase 2: judge every reply not yet in ``<model>_eval.jsonl`` (holding the folder's lock)."""
    with RunLock(paths.dir):
        check_folder_owner(paths)
        return _run(process_samples(samples, paths, judge=judge, **kwargs))


def score(
    paths: RunPaths,
    tasks: list[TaskSpec],
    *,
    reports: bool = True,
    extra: dict[str, Any] | None = None,
) -> Scores:
    """Phase 3: scores of ``tasks`` from ``<model>_eval.jsonl``; writes the score table,
    ``scores.json`` and (``reports``) ``report.md``, ``report.html`` and ``scores_by_task.png``."""
    rows = list(read_rows(paths.judgements, repair=False).rows.values())
    names = [t.name for t in tasks]
    scores = compute_scores(
        rows,
        names,
        gradings={t.name: t.grading for t in tasks},
        image_tasks={t.name for t in tasks if t.group == "vlm"},
    )
    selected = [r for r in rows if (r.get("task") or "") in set(names)]
    judges = sorted({r.get("judge_model") for r in selected if r.get("judge_model")})
    prompt_hashes = sorted({r.get("judge_prompt_hash") for r in selected if r.get("judge_prompt_hash")})
    payload = scores.as_json(
        model=paths.model,
        judge_models=judges,
        judge_prompt_hashes=prompt_hashes,
        scored_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **(extra or {}),
    )
    write_text_atomic(paths.score_txt, format_score_table(paths.model, scores))
    write_text_atomic(paths.scores_json, json.dumps(payload, indent=2) + "\n")
    if reports:
        from medix_r1.evaluation.reports import write_reports

        write_reports(paths.dir, payload)
    return scores


@dataclass
class RunResult:
    summary: RunSummary | None = None
    scores: Scores | None = None
    paths: RunPaths | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def run_eval(
    model: str,
    tasks: list[TaskSpec],
    out: str | Path,
    *,
    phases: tuple[str, ...] | list[str] = PHASES,
    generator: Any | None = None,
    judge: JudgeProtocol | None = None,
    concurrency: int = 64,
    limit: int | None = None,
    redo_changed: bool = False,
    retry_failed: bool = False,
    reports: bool = True,
    progress: Callable[[str], None] | None = None,
    run_info: dict[str, Any] | None = None,
    yes_no_choices: bool = False,
    samples: list[EvalSample] | None = None,
) -> RunResult:
    """Run the chosen phases for one model with a candidate and a judge already built (see
    :func:`run_configured` for the form that takes an :class:`~medix_r1.evaluation.config.EvalConfig`).
    ``samples``: the tasks' samples when the caller has loaded them already."""
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        raise ValueError(f"unknown phase(s) {unknown}; choose from {', '.join(PHASES)}")
    if "generate" in phases and generator is None:
        raise ValueError("the generate phase needs a candidate backend")
    if "judge" in phases and judge is None:
        raise ValueError("the judge phase needs a judge (--judge-url and --judge-model)")
    paths = RunPaths(Path(out), model)
    result = RunResult(paths=paths)
    # Tasks are read and checked before the folder is touched or any request is sent.
    if samples is None:
        samples = load_samples(tasks, limit, yes_no_choices=yes_no_choices) if set(phases) - {"score"} else []
    with RunLock(paths.dir):
        check_folder_owner(paths)
        _run_phases(
            result,
            model,
            tasks,
            samples,
            phases=phases,
            generator=generator,
            judge=judge,
            concurrency=concurrency,
            limit=limit,
            redo_changed=redo_changed,
            retry_failed=retry_failed,
            reports=reports,
            progress=progress,
            run_info=run_info,
            yes_no_choices=yes_no_choices,
        )
    return result


def _run_phases(
    result: RunResult,
    model: str,
    tasks: list[TaskSpec],
    samples: list[EvalSample],
    *,
    phases: tuple[str, ...] | list[str],
    generator: Any | None,
    judge: JudgeProtocol | None,
    concurrency: int,
    limit: int | None,
    redo_changed: bool,
    retry_failed: bool,
    reports: bool,
    progress: Callable[[str], None] | None,
    run_info: dict[str, Any] | None,
    yes_no_choices: bool,
) -> None:
    """The phases of :func:`run_eval`, with the folder's lock held and its owner checked."""
    paths = result.paths
    assert paths is not None
    if "generate" in phases or "judge" in phases:
        info = {"model": model, "tasks": [t.name for t in tasks], "phases": list(phases), "limit": limit}
        if yes_no_choices:
            info["yes_no_choices"] = True
        info.update(run_info or {})
        # Claim the folder for this model (full name and settings) before the first request.
        write_text_atomic(paths.run_json, json.dumps({**info, "summary": None}, indent=2, default=str) + "\n")

        async def both() -> RunSummary:
            try:
                return await process_samples(
                    samples,
                    paths,
                    generator=generator if "generate" in phases else None,
                    judge=judge if "judge" in phases else None,
                    concurrency=concurrency,
                    redo_changed=redo_changed,
                    retry_failed=retry_failed,
                    progress=progress,
                )
            finally:
                for client in {id(c): c for c in _clients(generator, judge)}.values():
                    await client.aclose()

        result.summary = _run(both())
        info["summary"] = result.summary.as_dict()
        write_text_atomic(paths.run_json, json.dumps(info, indent=2, default=str) + "\n")
    else:  # score only: the files are still made whole first (torn tail, repeated ids), under the lock
        for path in (paths.generations, paths.judgements):
            repair_rows(path)
    if "score" in phases:
        extra = {}
        if paths.run_json.exists():
            extra["run"] = {k: v for k, v in json.loads(paths.run_json.read_text()).items() if k != "summary"}
        result.scores = score(paths, tasks, reports=reports, extra=extra)


def run_configured(config: EvalConfig, *, progress: Callable[[str], None] | None = None) -> RunResult:
    """``medix-r1 eval run`` as a library call: the tasks are resolved and every sample checked, then
    (``serve``) the candidate's vLLM server started, the candidate and judge built, and the phases run.

    Raises :class:`~medix_r1.evaluation.config.EvalConfigError` for a setting that cannot be used,
    before any request; the errors of :func:`run_eval` otherwise.
    """
    from medix_r1.evaluation.launch import (
        Clients,
        build_generator,
        build_judge,
        build_tasks,
        candidate_server,
    )
    from medix_r1.evaluation.launch import run_info as backend_info

    tasks = build_tasks(config)
    config.check_backends()
    needs_samples = config.generates or config.judges
    samples = load_samples(tasks, config.limit, yes_no_choices=config.yes_no_choices) if needs_samples else []
    clients = Clients(config)
    with candidate_server(config) as base_url:
        generator = build_generator(config, clients, base_url)
        judge = build_judge(config, clients)
        return run_eval(
            config.model,
            tasks,
            config.out,
            phases=config.phases,
            generator=generator,
            judge=judge,
            concurrency=config.concurrency,
            limit=config.limit,
            redo_changed=config.redo_changed,
            retry_failed=config.retry_failed,
            reports=config.reports,
            progress=progress,
            run_info=backend_info(config, base_url, generator, judge),
            yes_no_choices=config.yes_no_choices,
            samples=samples,
        )


def _model_of(generator: Any) -> str:
    return str(getattr(generator, "model", None) or getattr(generator, "identity", "candidate"))


def _clients(*owners: Any) -> list[Any]:
    out = []
    for owner in owners:
        client = getattr(owner, "client", None)
        if client is not None and hasattr(client, "aclose"):
            out.append(client)
    return out
