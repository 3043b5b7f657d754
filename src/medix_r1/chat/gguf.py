"""The ``gguf`` chat backend: a GGUF file run by llama.cpp through the optional ``llama-cpp-python``.

With an ``mmproj`` file (the vision tower's GGUF) the model sees images, sent as ``image_url`` parts
(:mod:`medix_r1.chat.messages`). :func:`load_gguf` opens a file; :class:`GGUFClient` is the client
the demo and ``medix-r1 chat`` use. llama_cpp is imported when a model opens, never at import.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

from medix_r1.chat.base import check_role
from medix_r1.chat.stats import ChatStats

__all__ = ["GGUF_EXTRA", "GGUFClient", "load_gguf", "gguf_complete", "require_llama_cpp"]

GGUF_EXTRA = "pip install 'medix-r1[gguf]'"

#: llama-cpp-python chat handlers for Qwen-VL vision towers, newest first; the first one the
#: installed version has is used unless ``chat_handler`` names one.
_QWEN_VL_HANDLERS: tuple[str, ...] = ("Qwen3VLChatHandler", "Qwen25VLChatHandler")


def require_llama_cpp() -> Any:
    """The ``llama_cpp`` module, or a :class:`~medix_r1.models.extras.MissingExtraError` naming the extra."""
    try:
        import llama_cpp
    except ImportError as exc:
        from medix_r1.models.extras import MissingExtraError

        raise MissingExtraError(
            "running a GGUF model needs the Python package 'llama_cpp' (llama-cpp-python), which is not "
            f"installed. Install it with: {GGUF_EXTRA} (it compiles llama.cpp, several minutes)"
        ) from exc
    return llama_cpp


def load_gguf(
    model_path: str | os.PathLike[str],
    *,
    mmproj: str | os.PathLike[str] | None = None,
    chat_handler: str | None = None,
    n_ctx: int = 8192,
    n_gpu_layers: int = 0,
    verbose: bool = False,
) -> Any:
    """Open a GGUF model with llama-cpp-python; with ``mmproj`` (the vision tower's GGUF) it sees images.

    ``chat_handler`` names a class of ``llama_cpp.llama_chat_format`` (default: the newest Qwen-VL
    handler the installed version offers). ``n_gpu_layers=-1`` offloads everything to a GPU build.
    Returns a ``llama_cpp.Llama``; ask it with :func:`gguf_complete`.
    """
    llama_cpp = require_llama_cpp()
    path = Path(model_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no GGUF file at {path}")
    handler = None
    if mmproj is not None:
        mmproj_path = Path(mmproj).expanduser()
        if not mmproj_path.is_file():
            raise FileNotFoundError(f"no mmproj GGUF file at {mmproj_path}")
        from llama_cpp import llama_chat_format

        names = (chat_handler,) if chat_handler else _QWEN_VL_HANDLERS
        found = next((getattr(llama_chat_format, n) for n in names if hasattr(llama_chat_format, n)), None)
        if found is None:
            raise ValueError(
                f"llama-cpp-python {getattr(llama_cpp, '__version__', '?')} has no chat handler "
                f"{' or '.join(names)}; upgrade it ({GGUF_EXTRA} --upgrade) or name another handler"
            )
        handler = found(clip_model_path=str(mmproj_path), verbose=verbose)
    return llama_cpp.Llama(
        model_path=str(path), chat_handler=handler, n_ctx=n_ctx, n_gpu_layers=n_gpu_layers, verbose=verbose
    )


def gguf_complete(
    llm: Any, messages: list[dict[str, Any]], *, max_new_tokens: int, temperature: float = 0.0
) -> str:
    """The reply of a model from :func:`load_gguf` to chat ``messages`` (stripped)."""
    result = llm.create_chat_completion(messages=messages, max_tokens=max_new_tokens, temperature=temperature)
    return (result["choices"][0]["message"].get("content") or "").strip()


class GGUFClient:
    """A GGUF model opened on first use (``llama_cpp`` is checked at once, so a missing extra fails
    at start-up, not at the first question); one generation at a time."""

    backend = "gguf"
    backend_name = backend  # deprecated name of ``backend``

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        role: str,
        mmproj: str | os.PathLike[str] | None = None,
        chat_handler: str | None = None,
        n_ctx: int = 8192,
        n_gpu_layers: int = 0,
    ) -> None:
        require_llama_cpp()
        self.role = check_role(role)
        self.model_path = os.fspath(model_path)
        self.mmproj = os.fspath(mmproj) if mmproj is not None else None
        self.chat_handler = chat_handler
        self.n_ctx = n_ctx
        self.n_gpu_layers = n_gpu_layers
        self.stats = ChatStats()
        self._llm: Any = None
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        return self.model_path

    @property
    def endpoint(self) -> str:
        """Which model this client talks to: ``gguf://<file>``."""
        return f"gguf://{self.model_path}"

    @property
    def identity(self) -> str:
        return f"gguf:{Path(self.model_path).name}"

    def load(self) -> Any:
        """The ``llama_cpp.Llama`` (opened on the first call)."""
        with self._lock:
            return self._load_locked()

    def _load_locked(self) -> Any:
        if self._llm is None:
            self._llm = load_gguf(
                self.model_path,
                mmproj=self.mmproj,
                chat_handler=self.chat_handler,
                n_ctx=self.n_ctx,
                n_gpu_layers=self.n_gpu_layers,
            )
        return self._llm

    def reply(self, messages: list[dict[str, Any]], *, max_new_tokens: int, temperature: float = 0.0) -> str:
        """The reply to ``messages``, in this thread."""
        with self._lock:
            llm = self._load_locked()
            self.stats.requests += 1
            return gguf_complete(llm, messages, max_new_tokens=max_new_tokens, temperature=temperature)

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        **_: Any,
    ) -> str:
        return await asyncio.to_thread(
            self.reply, messages, max_new_tokens=max_new_tokens, temperature=temperature
        )
