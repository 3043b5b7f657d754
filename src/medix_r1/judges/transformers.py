"""The ``transformers`` judge backend: a causal LM run in-process (no server needed).

Useful offline and on a single GPU box. Generation is greedy with the model's chat template;
requests arriving together are generated as one left-padded batch in a worker thread.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from medix_r1.judges.stats import JudgeStats

__all__ = ["TransformersChatBackend"]


class TransformersChatBackend:
    """Chat with a local or hub causal LM through ``transformers`` (loaded on first use)."""

    backend_name = "transformers"

    def __init__(
        self, model: Any, tokenizer: Any = None, *, device: str = "auto", batch_size: int = 16
    ) -> None:
        # `model` is a path / hub id, or an already-loaded model (then `tokenizer` is required).
        self._model_ref = model
        self._tokenizer = tokenizer
        self.device = device
        self.batch_size = batch_size
        self.stats = JudgeStats()
        self._model: Any = None if isinstance(model, str) else model
        self._load_lock = threading.Lock()
        self._gen_lock = threading.Lock()
        self._queue: list[tuple[list[dict[str, Any]], int, asyncio.Future[str]]] = []
        self._flush_scheduled = False

    @property
    def endpoint(self) -> str:
        ref = self._model_ref if isinstance(self._model_ref, str) else type(self._model_ref).__name__
        return f"transformers://{ref}"

    @property
    def identity(self) -> str:
        return self.endpoint

    def _load(self) -> tuple[Any, Any]:
        with self._load_lock:
            if self._model is None or self._tokenizer is None:
                try:
                    import torch
                    from transformers import AutoModelForCausalLM, AutoTokenizer
                except ImportError as exc:  # pragma: no cover - depends on the install
                    raise ImportError(
                        "the transformers judge needs the train extra: pip install 'medix-r1[train]'"
                    ) from exc
                device = self.device
                if device == "auto":
                    device = "cuda" if torch.cuda.is_available() else "cpu"
                if self._tokenizer is None:
                    self._tokenizer = AutoTokenizer.from_pretrained(self._model_ref)
                if self._model is None:
                    self._model = AutoModelForCausalLM.from_pretrained(self._model_ref).to(device).eval()
        return self._model, self._tokenizer

    def generate_batch(self, conversations: list[list[dict[str, Any]]], max_tokens: int) -> list[str]:
        """Greedy replies for several conversations, one batch at a time."""
        import torch

        model, tokenizer = self._load()
        replies: list[str] = []
        with self._gen_lock:
            tokenizer.padding_side = "left"
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            for start in range(0, len(conversations), self.batch_size):
                chunk = conversations[start : start + self.batch_size]
                texts = [
                    tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                    for c in chunk
                ]
                enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(
                    model.device
                )
                with torch.inference_mode():
                    out = model.generate(
                        **enc, max_new_tokens=max_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
                    )
                new = out[:, enc["input_ids"].shape[1] :]
                replies.extend(tokenizer.batch_decode(new, skip_special_tokens=True))
        return replies

    async def complete(self, messages: list[dict[str, Any]], *, max_tokens: int, **_: Any) -> str:
        # Requests that arrive in the same event-loop turn are generated together.
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()
        self._queue.append((messages, max_tokens, future))
        self.stats.requests += 1
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(lambda: asyncio.ensure_future(self._flush()))
        return await future

    async def _flush(self) -> None:
        queue, self._queue, self._flush_scheduled = self._queue, [], False
        by_tokens: dict[int, list[tuple[list[dict[str, Any]], asyncio.Future[str]]]] = {}
        for messages, max_tokens, future in queue:
            by_tokens.setdefault(max_tokens, []).append((messages, future))
        for max_tokens, items in by_tokens.items():
            try:
                replies = await asyncio.to_thread(self.generate_batch, [m for m, _ in items], max_tokens)
            except Exception as exc:  # delivered to every waiting caller, not swallowed
                for _, future in items:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), reply in zip(items, replies, strict=True):
                if not future.done():
                    future.set_result(reply)
