"""Candidate backends: how a sample becomes the model's reply.

Published settings (reference section 5): no system prompt unless one is given, temperature 0,
top_p 1, at most 2048 new tokens, the image sent as a base64 JPEG part before the question text.

- ``openai``: any OpenAI-compatible chat endpoint (vLLM, SGLang, a hosted API) through the shared
  :class:`~medix_r1.chat.openai.OpenAIClient` in the candidate role (bounded concurrency, retries
  with backoff; an outage is reported as the candidate's, naming its URL);
- ``transformers``: a local model run in-process (:class:`~medix_r1.chat.transformers.LocalPolicy`;
  GPU-free path; tiny VLMs in tests);
- ``fake``: deterministic, offline, registered like the others (for demos and plumbing tests).

The backend names are the chat registry's (:mod:`medix_r1.chat.registry`); the messages are built by
its one builder (:mod:`medix_r1.chat.messages`). The reply cap is ``max_new_tokens`` (the config
field and the settings key keep the published name ``max_tokens``).

Every backend exposes ``settings()``; they are hashed into each generation row, so a run directory
made with other settings is detected on resume.

The published protocol sends the plain question, in the published message shapes: every content is a
list of parts (``[{"type": "text", "text": ...}]``, the system turn too), an image as a base64 JPEG
``image_url`` part before the text; ``force_think`` appends `` <think>`` to the text (the published
``FORCE_THINK=1``). ``eval run --prompt medix`` sends a
:class:`~medix_r1.prompting.MedixInstruction` instead: the MediX training instruction (our wording, or a training run's
own template), then the image, then the question, the layout a checkpoint was trained on.
"""

from __future__ import annotations

import asyncio
import hashlib
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from medix_r1.chat.errors import CANDIDATE
from medix_r1.chat.messages import chat_messages, fill_image_slots
from medix_r1.evaluation.tasks import EvalSample

if TYPE_CHECKING:
    from medix_r1.prompting import MedixInstruction

__all__ = [
    "Generator",
    "OpenAIGenerator",
    "TransformersGenerator",
    "FakeGenerator",
    "sample_messages",
    "build_messages",
    "DEFAULT_MAX_NEW_TOKENS",
    "DEFAULT_MAX_TOKENS",
]

#: The published reply cap (reference section 5).
DEFAULT_MAX_NEW_TOKENS = 2048
DEFAULT_MAX_TOKENS = DEFAULT_MAX_NEW_TOKENS  # deprecated name


def _reply_cap(max_new_tokens: int, max_tokens: int | None, cls: str) -> int:
    if max_tokens is None:
        return max_new_tokens
    warnings.warn(f"{cls}(max_tokens=) is now max_new_tokens", DeprecationWarning, stacklevel=3)
    return max_tokens


class Generator(Protocol):
    backend: str
    endpoint: str

    def settings(self) -> dict[str, Any]: ...

    async def generate(self, sample: EvalSample) -> str: ...


def sample_messages(
    sample: EvalSample,
    *,
    system_prompt: str | None = None,
    image_cache_dir: Path | None = None,
    instruction: MedixInstruction | None = None,
    force_think: bool = False,
) -> list[dict[str, Any]]:
    """Chat messages for one sample: optional system turn, then the user turn (image part first,
    or, with an ``instruction``, the instruction, the image and the question).

    >>> sample_messages(EvalSample(id="t_0", task="t", index=0, question="Q?", answer="A"))
    [{'role': 'user', 'content': [{'type': 'text', 'text': 'Q?'}]}]
    """
    url = sample.image.to_data_url(image_cache_dir) if sample.image is not None else None
    if instruction is not None:
        messages = instruction.messages(sample.question, with_image=url is not None, system=system_prompt)
        return fill_image_slots(messages, url) if url is not None else messages
    text = sample.question + " <think>" if force_think else sample.question
    # Published: a system turn whenever SYSTEM_PROMPT is set; every content a list of parts.
    return chat_messages(text, image_url=url, system=system_prompt, parts=True)


#: Deprecated name of :func:`sample_messages` (``medix_r1.models.build_messages`` is another thing:
#: now :func:`medix_r1.models.chat.policy_messages`).
build_messages = sample_messages


class OpenAIGenerator:
    """Generation through an OpenAI-compatible endpoint (``client`` is used in the candidate role)."""

    backend = "openai"
    backend_name = backend  # deprecated name of ``backend``

    def __init__(
        self,
        client: Any,
        *,
        model: str | None = None,
        system_prompt: str | None = None,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        temperature: float = 0.0,
        top_p: float = 1.0,
        image_cache_dir: Path | None = None,
        instruction: MedixInstruction | None = None,
        force_think: bool = False,
        max_tokens: int | None = None,
    ) -> None:
        # A client shared with the judge on one server: same pool and limit, failures named "candidate".
        self.client = client.with_role(CANDIDATE) if hasattr(client, "with_role") else client
        self.instruction = instruction
        self.force_think = force_think
        self.model = model or client.model
        self.system_prompt = system_prompt
        self.max_new_tokens = _reply_cap(max_new_tokens, max_tokens, "OpenAIGenerator")
        self.temperature = temperature
        self.top_p = top_p
        self.image_cache_dir = image_cache_dir
        self.identity = f"openai:{self.model}"

    @property
    def endpoint(self) -> str:
        return str(getattr(self.client, "endpoint", self.identity))

    @property
    def max_tokens(self) -> int:
        """Deprecated name of :attr:`max_new_tokens`."""
        return self.max_new_tokens

    def settings(self) -> dict[str, Any]:
        settings = {
            "system_prompt": self.system_prompt,
            "max_tokens": self.max_new_tokens,  # the published name, hashed into rows
            "temperature": self.temperature,
            "top_p": self.top_p,
        }
        if self.force_think:  # only when on, so rows written before the option existed stay valid
            settings["force_think"] = True
        if self.instruction is not None:
            settings.update(self.instruction.settings())
        return settings

    async def generate(self, sample: EvalSample) -> str:
        options = {
            "system_prompt": self.system_prompt,
            "instruction": self.instruction,
            "force_think": self.force_think,
        }
        if sample.image is not None:  # JPEG encoding is CPU work: keep it off the event loop
            messages = await asyncio.to_thread(
                sample_messages, sample, image_cache_dir=self.image_cache_dir, **options
            )
        else:
            messages = sample_messages(sample, **options)
        extra = {"model": self.model} if self.model != self.client.model else {}
        return await self.client.complete(
            messages,
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            **extra,
        )


class TransformersGenerator:
    """A local model run in-process, one sample at a time (greedy decoding), through
    :class:`medix_r1.chat.transformers.LocalPolicy` (the demo's in-process path too)."""

    backend = "transformers"
    backend_name = backend  # deprecated name of ``backend``

    def __init__(
        self,
        model_path: str,
        *,
        system_prompt: str | None = None,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        image_cache_dir: Path | None = None,
        instruction: MedixInstruction | None = None,
        max_tokens: int | None = None,
    ) -> None:
        from medix_r1.chat.transformers import LocalPolicy
        from medix_r1.models.runs import run_checkpoint

        self.model_path = model_path
        self.instruction = instruction
        self.system_prompt = system_prompt
        self.max_new_tokens = _reply_cap(max_new_tokens, max_tokens, "TransformersGenerator")
        self.image_cache_dir = image_cache_dir
        self.identity = f"transformers:{model_path}"
        self.policy = LocalPolicy(run_checkpoint(model_path), role=CANDIDATE)  # a run folder: its final model
        self._lock = asyncio.Lock()

    @property
    def endpoint(self) -> str:
        return self.policy.endpoint

    @property
    def max_tokens(self) -> int:
        """Deprecated name of :attr:`max_new_tokens`."""
        return self.max_new_tokens

    def settings(self) -> dict[str, Any]:
        settings = {
            "system_prompt": self.system_prompt,
            "max_tokens": self.max_new_tokens,
            "temperature": 0.0,
        }
        if self.instruction is not None:
            settings.update(self.instruction.settings())
        return settings

    def _generate_sync(self, sample: EvalSample) -> str:
        image = sample.image.to_pil(self.image_cache_dir) if sample.image is not None else None
        return self.policy.reply(
            sample.question,
            image,
            instruction=self.instruction,
            system=self.system_prompt,
            max_new_tokens=self.max_new_tokens,
        )

    async def generate(self, sample: EvalSample) -> str:
        async with self._lock:  # one forward pass at a time; the model is not re-entrant
            return await asyncio.to_thread(self._generate_sync, sample)


class FakeGenerator:
    """A deterministic stand-in candidate: thinks a line, then answers with the first option of a
    multiple-choice question, or with a fixed phrase. It knows nothing of the reference."""

    backend = "fake"
    backend_name = backend  # deprecated name of ``backend``
    endpoint = "fake://candidate"

    def __init__(self, *, answer: str = "No abnormality is seen.", **_: Any) -> None:
        self.answer = answer
        self.identity = "fake"

    def settings(self) -> dict[str, Any]:
        return {"fake_answer": self.answer}

    async def generate(self, sample: EvalSample) -> str:
        answer = self.answer
        if "\nChoices:\n" in sample.question:
            first = sample.question.split("\nChoices:\n", 1)[1].splitlines()[0]
            answer = first.split(". ", 1)[-1]
        digest = hashlib.sha256(sample.id.encode()).hexdigest()[:6]
        return f"<think>Fake reasoning {digest}.</think>{answer}"
