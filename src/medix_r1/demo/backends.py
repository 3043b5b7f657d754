"""Who answers the demo's questions: an *answerer* turns (question, image) into the model's raw reply.

Four backends, the chat registry's names (:mod:`medix_r1.chat.registry`), chosen through
:func:`make_answerer` (STYLE.md rule 13: the fake is a real backend, not a test-only mock). Each
answerer wraps a client of :mod:`medix_r1.chat` in the ``demo model`` role, so a failure names the
demo's model server, never a judge:

- ``transformers``: a policy loaded in-process (:class:`medix_r1.chat.transformers.LocalPolicy`:
  a built-in name, a trained checkpoint folder, a hub id);
- ``openai``: any OpenAI-compatible chat endpoint, e.g. ``vllm serve``
  (:class:`medix_r1.chat.openai.OpenAIClient`; the image travels as a base64 PNG ``data:`` URI in an
  ``image_url`` part, before the question, as evaluation sends it);
- ``gguf``: a GGUF file run by llama.cpp through the optional ``llama-cpp-python`` extra, with an
  ``mmproj`` file for the vision tower (:class:`medix_r1.chat.gguf.GGUFClient`). :func:`load_gguf`
  and :func:`gguf_reply` are public so the ``chat`` command can use the same code;
- ``fake``: a deterministic canned reply that says it is fake (fast tests, UI work without a model).

With no model named, :func:`default_model` picks the CPU quickstart's trained checkpoint when one
exists (:data:`QUICKSTART_CHECKPOINTS`) and otherwise the offline ``demo-vlm``.

The prompt: MediX-R1 policies are trained with an instruction in front of the question (reference
section 1; our wording lives in :mod:`medix_r1.prompting`). Every backend takes a
``prompt_builder`` (``question -> user text``); the default, :func:`default_prompt_builder`, is that
instruction (:class:`MedixPrompt`); :func:`plain_prompt` sends the question alone. The in-process
backend asks a vision-language model exactly as training did: a :class:`MedixPrompt` builds the
training messages (instruction, then the image, then the question) and, for a training run's
checkpoint, uses that run's instruction template and tag variant (as ``medix-r1 chat`` does). The
endpoint and GGUF backends send the image first, as evaluation does.

Nothing heavy happens at import: torch, transformers and llama_cpp are imported when a model loads.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from medix_r1.chat.errors import DEMO, ChatRejectedError, ChatUnavailableError
from medix_r1.chat.gguf import GGUF_EXTRA, gguf_complete, load_gguf
from medix_r1.chat.messages import chat_messages, image_data_uri
from medix_r1.chat.registry import check_backend
from medix_r1.errors import MedixError
from medix_r1.prompting import MedixInstruction

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = [
    "Answerer",
    "AnswerError",
    "PromptBuilder",
    "MedixPrompt",
    "plain_prompt",
    "default_prompt_builder",
    "QUICKSTART_CHECKPOINTS",
    "FALLBACK_MODEL",
    "DEFAULT_MAX_NEW_TOKENS",
    "GGUF_EXTRA",
    "default_model",
    "TransformersAnswerer",
    "OpenAIAnswerer",
    "GGUFAnswerer",
    "FakeAnswerer",
    "ANSWERER_BACKENDS",
    "make_answerer",
    "image_data_uri",
    "load_gguf",
    "gguf_reply",
]

#: Where ``medix-r1 quickstart`` leaves its trained policy, relative to the working directory; the
#: first folder holding a ``config.json`` is the demo's default model.
QUICKSTART_CHECKPOINTS: tuple[str, ...] = ("runs/quickstart/final", "runs/quickstart/checkpoint")
#: The default when no quickstart checkpoint exists: SmolLM2-135M grafted into Qwen2-VL (offline, CPU).
FALLBACK_MODEL = "demo-vlm"
#: New tokens per reply. The published evaluation allows 2048; on a CPU that is minutes per answer.
DEFAULT_MAX_NEW_TOKENS = 384

#: Turns the person's question into the user text the model sees.
PromptBuilder = Callable[[str], str]


class AnswerError(MedixError, RuntimeError):
    """The backend could not produce a reply (server down, model missing...); the message says what to do."""

    exit_code = 1


@runtime_checkable
class Answerer(Protocol):
    """Something that answers one question about one optional image with the model's raw reply text."""

    backend: str  # the chat registry's name (``name`` is its deprecated alias)
    endpoint: str  # which server or model answers (a URL, transformers://..., gguf://..., fake://...)

    def describe(self) -> str:
        """One line for the page: which model answers, and how."""
        ...

    def load(self) -> None:
        """Do the slow start-up work now (load weights), so the first question is not slow."""
        ...

    def answer(self, question: str, image: Image.Image | None = None) -> str: ...


def plain_prompt(question: str) -> str:
    """The question as typed.

    >>> plain_prompt("Which organ?")
    'Which organ?'
    """
    return question


#: The MediX training instruction as a prompt builder (calling it gives the text-only user turn);
#: the in-process backend uses its training-layout ``messages`` instead.
MedixPrompt = MedixInstruction


def default_prompt_builder(think_tag: str = "thinking") -> PromptBuilder:
    """The MediX training instruction (:class:`MedixPrompt`) with ``think_tag``."""
    return MedixPrompt(think_tag)


def default_model(root: str | os.PathLike[str] = ".") -> str:
    """The quickstart's trained checkpoint under ``root`` when there is one, else ``"demo-vlm"``.

    >>> default_model("/nonexistent")
    'demo-vlm'
    """
    for candidate in QUICKSTART_CHECKPOINTS:
        folder = Path(root) / candidate
        if (folder / "config.json").is_file():
            return str(folder)
    return FALLBACK_MODEL


# -- transformers -------------------------------------------------------------------------------


class TransformersAnswerer:
    """A policy run in this process (CPU or GPU), greedy decoding, one question at a time
    (:class:`medix_r1.chat.transformers.LocalPolicy`, the evaluation's in-process path too)."""

    backend = "transformers"
    name = backend  # deprecated name of ``backend``

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        prompt_builder: PromptBuilder | None = None,
        system: str | None = None,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        device: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        from medix_r1.chat.transformers import LocalPolicy
        from medix_r1.models.runs import run_checkpoint, run_instruction

        # A training run folder (runs/x) means its final model, as for `medix-r1 chat`.
        resolved = run_checkpoint(os.fspath(model) if model is not None else default_model())
        self.policy = LocalPolicy(resolved, role=DEMO, device=device, cache_dir=cache_dir)
        self.model = self.policy.model
        self.prompt_builder = prompt_builder or run_instruction(self.model)
        self.system = system
        self.max_new_tokens = max_new_tokens
        self.device = device
        self.cache_dir = cache_dir

    @property
    def endpoint(self) -> str:
        return self.policy.endpoint

    def describe(self) -> str:
        return f"{self.model} (in-process, transformers)"

    def load(self) -> None:
        try:
            self.policy.load()
        except (OSError, ValueError) as exc:
            raise AnswerError(f"cannot load the model {self.model!r}: {exc}") from exc

    def answer(self, question: str, image: Image.Image | None = None) -> str:
        self.load()
        if image is not None and not self.policy.sees_images():
            raise AnswerError(
                f"{self.model!r} is a text-only model and cannot look at images; remove the image "
                "or start the demo with a vision-language model (--model demo-vlm)"
            )
        if isinstance(self.prompt_builder, MedixPrompt):
            return self.policy.reply(
                question,
                image,
                instruction=self.prompt_builder,
                system=self.system,
                max_new_tokens=self.max_new_tokens,
            )
        return self.policy.reply(
            self.prompt_builder(question), image, system=self.system, max_new_tokens=self.max_new_tokens
        )


# -- OpenAI-compatible endpoint ----------------------------------------------------------------


class OpenAIAnswerer:
    """A model behind an OpenAI-compatible ``/v1/chat/completions`` endpoint (vLLM, SGLang, llama-server).

    Uses the project's aiohttp client (:class:`~medix_r1.chat.openai.OpenAIClient` in the
    ``demo model`` role: timeout, retries with backoff) on the shared background event loop.
    """

    backend = "openai"
    name = backend  # deprecated name of ``backend``

    def __init__(
        self,
        base_url: str,
        model_name: str,
        *,
        prompt_builder: PromptBuilder | None = None,
        system: str | None = None,
        max_new_tokens: int = 2048,
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout_s: float = 300.0,
        max_retries: int = 2,
    ) -> None:
        from medix_r1.chat.openai import OpenAIClient

        self.base_url = base_url
        self.model_name = model_name
        self.prompt_builder = prompt_builder or default_prompt_builder()
        self.system = system
        self.max_new_tokens = max_new_tokens
        self.client = OpenAIClient(
            base_url,
            model_name,
            role=DEMO,
            api_key_env=api_key_env,
            timeout_s=timeout_s,
            max_retries=max_retries,
            concurrency=8,
        )

    @property
    def endpoint(self) -> str:
        return self.client.endpoint

    def describe(self) -> str:
        return f"{self.model_name} at {self.base_url} (OpenAI-compatible server)"

    def load(self) -> None:
        """Nothing to load: the server holds the model."""

    def messages(self, question: str, image: Image.Image | None = None) -> list[dict[str, Any]]:
        """The chat messages sent: optional system turn, then the image part and the text part."""
        url = image_data_uri(image) if image is not None else None
        return chat_messages(self.prompt_builder(question), image_url=url, system=self.system or None)

    def answer(self, question: str, image: Image.Image | None = None) -> str:
        from medix_r1.asyncio_bridge import run_sync

        try:
            return run_sync(
                self.client.complete(
                    self.messages(question, image),
                    max_new_tokens=self.max_new_tokens,
                    temperature=0.0,
                    top_p=1.0,
                )
            )
        except ChatUnavailableError as exc:
            raise AnswerError(
                f"the model server at {exc.endpoint} did not answer after {exc.attempts} attempt(s): "
                f"{exc.reason}. Is `vllm serve` running there?"
            ) from exc
        except ChatRejectedError as exc:
            raise AnswerError(
                f"the model server at {exc.endpoint} refused the request (HTTP {exc.status}); check "
                f"--model-name {self.model_name!r} against its /v1/models list"
            ) from exc


# -- GGUF through llama-cpp-python -------------------------------------------------------------


def gguf_reply(
    llm: Any,
    question: str,
    image: Image.Image | None = None,
    *,
    system: str | None = None,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    temperature: float = 0.0,
) -> str:
    """One chat turn with a model from :func:`load_gguf`; the image goes as a PNG data URI part.

    Used by the demo's ``gguf`` backend and by ``medix-r1 chat`` for GGUF models.
    """
    if image is not None and getattr(llm, "chat_handler", None) is None:
        raise AnswerError("this GGUF model was opened without an mmproj file, so it cannot see images")
    url = image_data_uri(image) if image is not None else None
    messages = chat_messages(question, image_url=url, system=system or None)
    return gguf_complete(llm, messages, max_new_tokens=max_new_tokens, temperature=temperature)


class GGUFAnswerer:
    """A GGUF model run by llama.cpp (the small-device path; see docs/serving.md)."""

    backend = "gguf"
    name = backend  # deprecated name of ``backend``

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        mmproj: str | os.PathLike[str] | None = None,
        chat_handler: str | None = None,
        prompt_builder: PromptBuilder | None = None,
        system: str | None = None,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        n_ctx: int = 8192,
        n_gpu_layers: int = 0,
    ) -> None:
        from medix_r1.chat.gguf import GGUFClient

        # llama_cpp is checked here: fail at start-up, not at the first question
        self.client = GGUFClient(
            model_path,
            role=DEMO,
            mmproj=mmproj,
            chat_handler=chat_handler,
            n_ctx=n_ctx,
            n_gpu_layers=n_gpu_layers,
        )
        self.model_path = self.client.model_path
        self.mmproj = self.client.mmproj
        self.prompt_builder = prompt_builder or default_prompt_builder()
        self.system = system
        self.max_new_tokens = max_new_tokens

    @property
    def endpoint(self) -> str:
        return self.client.endpoint

    def describe(self) -> str:
        vision = f" + {Path(self.mmproj).name}" if self.mmproj else " (text only: no mmproj)"
        return f"{Path(self.model_path).name}{vision} (llama.cpp)"

    def load(self) -> None:
        self.client.load()

    def answer(self, question: str, image: Image.Image | None = None) -> str:
        llm = self.client.load()
        return gguf_reply(
            llm, self.prompt_builder(question), image, system=self.system, max_new_tokens=self.max_new_tokens
        )


# -- fake --------------------------------------------------------------------------------------


class FakeAnswerer:
    """Answers instantly with a canned, well-formed reply that says it is fake. No model runs.

    The reply depends only on the question and the image's size and colour, so tests can assert it.

    >>> FakeAnswerer().answer("Which organ?")
    '<OTHER><think>FAKE BACKEND: no model was run. No image was given; question digest 42f8c9.</think><answer>This is a canned reply from the fake backend, not a model answer</answer>'
    """

    backend = "fake"
    name = backend  # deprecated name of ``backend``
    endpoint = "fake://demo-model"

    def __init__(self, *, reply: str | None = None, **_: Any) -> None:
        self.reply = reply

    def describe(self) -> str:
        return "fake backend (canned replies, no model)"

    def load(self) -> None:
        """Nothing to load."""

    def answer(self, question: str, image: Image.Image | None = None) -> str:
        if self.reply is not None:
            return self.reply
        digest = hashlib.sha256(question.encode("utf-8")).hexdigest()[:6]
        if image is None:
            seen = "No image was given"
        else:
            kind = "greyscale" if _is_grey(image) else "colour"
            seen = f"It was given a {image.width}x{image.height} {kind} image"
        return (
            f"<OTHER><think>FAKE BACKEND: no model was run. {seen}; question digest {digest}.</think>"
            "<answer>This is a canned reply from the fake backend, not a model answer</answer>"
        )


def _is_grey(image: Image.Image) -> bool:
    if image.mode in ("L", "1", "I", "F", "I;16"):
        return True
    r, g, b = image.convert("RGB").split()
    return r.tobytes() == g.tobytes() == b.tobytes()


# -- registry ----------------------------------------------------------------------------------

#: The chat registry's backend names (:data:`medix_r1.chat.registry.CHAT_BACKENDS`) -> the answerer
#: that puts each on the page.
ANSWERER_BACKENDS: dict[str, type] = {
    "transformers": TransformersAnswerer,
    "openai": OpenAIAnswerer,
    "gguf": GGUFAnswerer,
    "fake": FakeAnswerer,
}


def make_answerer(backend: str, /, **options: Any) -> Answerer:
    """Build a registered answerer by name, passing ``options`` to its constructor.

    >>> make_answerer("fake").backend
    'fake'
    >>> make_answerer("openia")
    Traceback (most recent call last):
    ...
    medix_r1.chat.registry.UnknownBackendError: unknown demo backend 'openia'; did you mean 'openai'? Valid backends: fake, gguf, openai, transformers
    """
    return ANSWERER_BACKENDS[check_backend(backend, role="demo", among=ANSWERER_BACKENDS)](**options)
