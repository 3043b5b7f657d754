"""verl adapter (tested against verl 0.9.1): the reward verl's trainer calls.

The exported run points verl at this module itself, never at a copy::

    reward.custom_reward_function.path=pkg://medix_r1.integrations.verl
    reward.custom_reward_function.name=acompute_score
    reward.reward_manager.name=naive            (dapo works the same way)
    +reward.custom_reward_function.reward_kwargs.judge_url=...   (any RewardConfig field)

Three entries, one reward:

* :func:`acompute_score` (async, the default): verl 0.9's reward loop awaits one call per sample,
  all samples of a worker at once (``asyncio.gather``). Calls that arrive together are gathered
  into one batch of the composite reward (one embedding pass, every judge request in flight up to
  ``judge_concurrency``), run on the package's background event loop so verl's loop stays free.
* :func:`compute_score`: per sample, synchronous (verl runs it in its thread pool).
* :func:`compute_score_batch`: the legacy ``BatchRewardManager`` signature; ``extra_infos`` may be a
  list, a tuple, a numpy object array (what verl passes), or one dict of columns.

Keyword arguments are the :class:`~medix_r1.rewards.config.RewardConfig` fields (``reward_kwargs``)
plus the ones verl's managers add on their own (:data:`VERL_CALL_KWARGS`), which are accepted and
not used. Any other name is an error that names it. Options may also come from the file named by
``MEDIX_R1_REWARD_CONFIG``. The result has ``score`` (:meth:`CompositeReward.combine`, never NaN),
each component (NaN when unscored) and ``unscored``.

>>> import os; os.environ.pop("MEDIX_R1_REWARD_CONFIG", None) and None
>>> r = compute_score("slake", "<X_RAY><thinking>.</thinking><answer>left lung</answer>", "<X_RAY> Left lung",
...                   judge="fake", embedding_model="hashing")
>>> r["score"], r["format"], r["modality"]
(1.0, 1.0, 1.0)
"""

from __future__ import annotations

import asyncio
import json
import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from medix_r1.asyncio_bridge import _background_loop, run_sync
from medix_r1.integrations.engine_config import engine_rows, reward_for

__all__ = ["acompute_score", "compute_score", "compute_score_batch", "VERL_CALL_KWARGS", "MODULE_PATH"]

#: What the exported run sets as ``reward.custom_reward_function.path`` (verl imports the package module).
MODULE_PATH = "pkg://medix_r1.integrations.verl"

#: Keyword arguments verl's reward managers pass besides ``reward_kwargs`` (0.9 reward loop: the
#: reward-model router; the DAPO recipe's loader: the overlong-buffer settings). Accepted, unused.
VERL_CALL_KWARGS = frozenset(
    {"reward_router_address", "reward_model_tokenizer", "max_resp_len", "overlong_buffer_cfg"}
)

#: How long the first of a group of concurrent per-sample calls waits for the others (seconds),
#: and the largest batch formed (a reward worker gets about batch x group / reward.num_workers
#: samples per step). verl decodes responses in a thread pool just before calling, so the calls of
#: one step arrive within a few milliseconds of each other.
BATCH_WINDOW_S = 0.005
MAX_BATCH = 1024


def _plain(value: Any) -> Any:
    # verl hands reward_kwargs over as OmegaConf containers and numpy scalars; RewardConfig wants plain values.
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ in ("ListConfig", "ndarray"):
        return [_plain(v) for v in value]
    item = getattr(value, "item", None)
    if item is not None and type(value).__module__ == "numpy":
        return item()
    return value


def _options(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in kwargs.items() if k not in VERL_CALL_KWARGS}


def _modality(extra_info: Any) -> str | None:
    if isinstance(extra_info, Mapping):
        value = extra_info.get("modality")
        return None if value is None else str(value)
    return None


def _infos(extra_infos: Any, n: int) -> list[Any]:
    """One extra_info per row from None, a list/tuple, a numpy object array, or a dict of columns."""
    if extra_infos is None:
        return [None] * n
    if isinstance(extra_infos, Mapping):
        columns = {
            k: v
            for k, v in extra_infos.items()
            if (isinstance(v, Sequence) and not isinstance(v, str)) or type(v).__name__ == "ndarray"
        }
        if columns and all(len(v) == n for v in columns.values()):
            return [{k: extra_infos[k][i] for k in columns} for i in range(n)]
        return [extra_infos] * n
    infos = list(extra_infos)  # a numpy array must never be tested for truth (verl passes one)
    if len(infos) != n:
        raise ValueError(f"verl reward: {len(infos)} extra_infos for {n} responses")
    return infos


def _verl_rows(rows: list[dict[str, float | None]], composite: Any) -> list[dict[str, float]]:
    out = []
    for row in engine_rows(rows, composite):
        row["score"] = row.pop("overall")
        out.append(row)
    return out


def compute_score_batch(
    data_sources: Sequence[str],
    solution_strs: Sequence[str],
    ground_truths: Sequence[str],
    extra_infos: Any = None,
    **kwargs: Any,
) -> list[dict[str, float]]:
    """Batch form (verl's legacy ``BatchRewardManager``): one dict per response."""
    composite = reward_for(_options(kwargs))
    solutions, truths = [str(s) for s in solution_strs], [str(t) for t in ground_truths]
    modalities = [_modality(info) for info in _infos(extra_infos, len(solutions))]
    rows = run_sync(composite.ascore(solutions, truths, modalities if any(modalities) else None))
    return _verl_rows(rows, composite)


def compute_score(
    data_source: str, solution_str: str, ground_truth: str, extra_info: Any = None, **kwargs: Any
) -> dict[str, float]:
    """Per-sample form (verl's naive / dapo managers, synchronous)."""
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info], **kwargs)[0]


class _Batcher:
    """Gathers concurrent per-sample calls on one event loop into composite batches."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.pending: list[tuple[str, str, str | None, asyncio.Future[dict[str, float]]]] = []
        self.timer: asyncio.TimerHandle | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def score(self, solution: str, truth: str, modality: str | None) -> dict[str, float]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, float]] = loop.create_future()
        self.pending.append((solution, truth, modality, future))
        if len(self.pending) >= MAX_BATCH:
            self._flush()
        elif self.timer is None:
            self.timer = loop.call_later(BATCH_WINDOW_S, self._flush)
        return await future

    def _flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        batch, self.pending = self.pending, []
        if batch:
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self.tasks.add(task)  # keep a reference until it finishes
            task.add_done_callback(self.tasks.discard)

    async def _run(self, batch: list[tuple[str, str, str | None, asyncio.Future[dict[str, float]]]]) -> None:
        try:
            composite = reward_for(self.options)
            modalities = [b[2] for b in batch]
            scoring = composite.ascore(
                [b[0] for b in batch], [b[1] for b in batch], modalities if any(modalities) else None
            )
            # On the package's background loop, where the judge's connection pool lives; verl's loop
            # only waits for the result.
            rows = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(scoring, _background_loop()))
            results = _verl_rows(rows, composite)
        except Exception as exc:  # every caller of the batch gets the reward's own error (judge down...)
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (*_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


# One batcher per (event loop, settings); a loop that ends takes its batchers with it.
_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Batcher]] = (
    weakref.WeakKeyDictionary()
)
_batchers_lock = threading.Lock()


async def acompute_score(
    data_source: str, solution_str: str, ground_truth: str, extra_info: Any = None, **kwargs: Any
) -> dict[str, float]:
    """Async per-sample form for verl 0.9's reward loop: concurrent calls share one batch."""
    options = _options(kwargs)
    reward_for(options)  # a bad option fails here, in the caller, naming the field
    key = json.dumps(options, sort_keys=True, default=str)
    loop = asyncio.get_running_loop()
    with _batchers_lock:
        batcher = _batchers.setdefault(loop, {}).get(key)
        if batcher is None:
            batcher = _batchers[loop][key] = _Batcher(options)
    return await batcher.score(str(solution_str), str(ground_truth), _modality(extra_info))
