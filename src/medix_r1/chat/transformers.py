"""The ``transformers`` chat backend: a model run in this process (no server needed).

Two ways in, one home:

- :class:`TransformersClient`: the message-level client (``async complete(messages)``) over a causal
  LM and its chat template, greedy; requests arriving together are generated as one left-padded batch
  in a worker thread. The judge's in-process backend.
- :class:`LocalPolicy`: a policy (vision-language or text-only) loaded once with
  :func:`medix_r1.models.load_policy` and asked one question about one optional image, greedy. With a
  :class:`~medix_r1.prompting.MedixInstruction` a vision-language model is asked in the training
  layout (instruction, image, question: :func:`medix_r1.models.generate_one`); otherwise the image
  comes first, then the question (:func:`medix_r1.models.generate_reply`). The evaluation's
  in-process candidate and the demo's in-process model.

Nothing heavy happens at import: torch and transformers load with the model.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import TYPE_CHECKING, Any

from medix_r1.chat.base import check_role
from medix_r1.chat.stats import ChatStats

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from medix_r1.prompting import MedixInstruction

__all__ = ["TransformersClient", "LocalPolicy"]


class TransformersClient:
    """Chat with a local or hub causal LM through ``transformers`` (loaded on first use)."""

    backend = "transformers"
    backend_name = backend  # deprecated name of ``backend``

    def __init__(
        self, model: Any, tokenizer: Any = None, *, role: str, device: str = "auto", batch_size: int = 16
    ) -> None:
        # `model` is a path / hub id, or an already-loaded model (then `tokenizer` is required).
        self.role = check_role(role)
        self._model_ref = model
        self._tokenizer = tokenizer
        self.device = device
        self.batch_size = batch_size
        self.stats = ChatStats()
        self._model: Any = None if isinstance(model, str) else model
        self._load_lock = threading.Lock()
        self._gen_lock = threading.Lock()
        self._queue: list[tuple[list[dict[str, Any]], int, asyncio.Future[str]]] = []
        self._flush_scheduled = False

    @property
    def model(self) -> str:
        return self._model_ref if isinstance(self._model_ref, str) else type(self._model_ref).__name__

    @property
    def endpoint(self) -> str:
        """Which model this client talks to: ``transformers://<path, hub id or model class>``."""
        return f"transformers://{self.model}"

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
                        f"the transformers {self.role} needs the train extra: pip install 'medix-r1[train]'"
                    ) from exc
                device = self.device
                if device == "auto":
                    device = "cuda" if torch.cuda.is_available() else "cpu"
                if self._tokenizer is None:
                    self._tokenizer = AutoTokenizer.from_pretrained(self._model_ref)
                if self._model is None:
                    self._model = AutoModelForCausalLM.from_pretrained(self._model_ref).to(device).eval()
        return self._model, self._tokenizer

    def generate_batch(self, conversations: list[list[dict[str, Any]]], max_new_tokens: int) -> list[str]:
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
                        **enc,
                        max_new_tokens=max_new_tokens,
                        do_sample=False,
                        pad_token_id=tokenizer.pad_token_id,
                    )
                new = out[:, enc["input_ids"].shape[1] :]
                replies.extend(tokenizer.batch_decode(new, skip_special_tokens=True))
        return replies

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        max_new_tokens: int,
        **_: Any,
    ) -> str:
        # Requests that arrive in the same event-loop turn are generated together.
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()
        self._queue.append((messages, max_new_tokens, future))
        self.stats.requests += 1
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(lambda: asyncio.ensure_future(self._flush()))
        return await future

    async def _flush(self) -> None:
        queue, self._queue, self._flush_scheduled = self._queue, [], False
        by_cap: dict[int, list[tuple[list[dict[str, Any]], asyncio.Future[str]]]] = {}
        for messages, cap, future in queue:
            by_cap.setdefault(cap, []).append((messages, future))
        for cap, items in by_cap.items():
            try:
                replies = await asyncio.to_thread(self.generate_batch, [m for m, _ in items], cap)
            except Exception as exc:  # delivered to every waiting caller, not swallowed
                for _, future in items:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), reply in zip(items, replies, strict=True):
                if not future.done():
                    future.set_result(reply)


class LocalPolicy:
    """A policy loaded in this process on first use and asked one question at a time (greedy).

    ``model`` is a built-in name, a model folder or a hub id (callers resolve a training run folder
    to its ``final/`` model with :func:`medix_r1.models.runs.run_checkpoint`). Thread-safe: one
    generation at a time (``generate`` is not re-entrant; gradio and ``asyncio.to_thread`` call from
    threads).
    """

    backend = "transformers"

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        role: str,
        device: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.role = check_role(role)
        self.model = os.fspath(model)
        self.device = device
        self.cache_dir = cache_dir
        self._loaded: tuple[Any, Any] | None = None
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        """Which model answers: ``transformers://<model>``."""
        return f"transformers://{self.model}"

    def load(self) -> tuple[Any, Any]:
        """The model and its processor (loaded on the first call)."""
        with self._lock:
            return self._load_locked()

    def _load_locked(self) -> tuple[Any, Any]:
        if self._loaded is None:
            from medix_r1.models.loading import load_policy

            self._loaded = load_policy(self.model, device=self.device, cache_dir=self.cache_dir)
        return self._loaded

    def sees_images(self) -> bool:
        """Whether the loaded model has an image processor (loads it)."""
        return getattr(self.load()[1], "image_processor", None) is not None

    def reply(
        self,
        question: str,
        image: Image.Image | None = None,
        *,
        instruction: MedixInstruction | None = None,
        system: str | None = None,
        max_new_tokens: int,
    ) -> str:
        """The greedy reply to ``question`` (about ``image``): in the training layout when an
        ``instruction`` is given and the model sees images, else image first, then the text
        (``instruction(question)`` with an instruction, the question as is without)."""
        from medix_r1.models.chat import generate_reply
        from medix_r1.models.generation import generate_one

        with self._lock:
            model, processor = self._load_locked()
            if instruction is not None and getattr(processor, "image_processor", None) is not None:
                messages = instruction.messages(question, with_image=image is not None, system=system)
                return generate_one(model, processor, messages, image, max_new_tokens=max_new_tokens)
            text = instruction(question) if instruction is not None else question
            return generate_reply(
                model, processor, text, image=image, system=system, max_new_tokens=max_new_tokens
            )
