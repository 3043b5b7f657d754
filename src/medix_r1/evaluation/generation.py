"""Candidate backends: how a sample becomes the model's reply.

Published settings (reference section 5): no system prompt unless one is given, temperature 0,
top_p 1, at most 2048 new tokens, the image sent as a base64 JPEG part before the question text.

- ``openai``: any OpenAI-compatible chat endpoint (vLLM, SGLang, a hosted API) through the shared
  :class:`~medix_r1.judges.openai.OpenAIChatClient` (bounded concurrency, retries with backoff);
- ``transformers``: a local model run in-process (GPU-free path; tiny VLMs in tests);
- ``fake``: deterministic, offline, registered like the others (for demos and plumbing tests).

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
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from medix_r1.evaluation.tasks import EvalSample

if TYPE_CHECKING:
    from medix_r1.prompting import MedixInstruction

__all__ = [
    "Generator",
    "OpenAIGenerator",
    "TransformersGenerator",
    "FakeGenerator",
    "build_messages",
    "DEFAULT_MAX_TOKENS",
]

DEFAULT_MAX_TOKENS = 2048


class Generator(Protocol):
    identity: str

    def settings(self) -> dict[str, Any]: ...

    async def generate(self, sample: EvalSample) -> str: ...


def build_messages(
    sample: EvalSample,
    *,
    system_prompt: str | None = None,
    image_cache_dir: Path | None = None,
    instruction: MedixInstruction | None = None,
    force_think: bool = False,
) -> list[dict[str, Any]]:
    """Chat messages for one sample: optional system turn, then the user turn (image part first,
    or, with an ``instruction``, the instruction, the image and the question).

    >>> build_messages(EvalSample(id="t_0", task="t", index=0, question="Q?", answer="A"))
    [{'role': 'user', 'content': [{'type': 'text', 'text': 'Q?'}]}]
    """
    if instruction is not None:
        messages = instruction.messages(
            sample.question, with_image=sample.image is not None, system=system_prompt
        )
        if sample.image is not None:
            url = sample.image.to_data_url(image_cache_dir)
            for part in messages[-1]["content"]:
                if part.get("type") == "image":
                    part.clear()
                    part.update({"type": "image_url", "image_url": {"url": url}})
        return messages
    messages: list[dict[str, Any]] = []
    if system_prompt is not None:  # published: a system turn whenever SYSTEM_PROMPT is set
        messages.append({"role": "system", "content": [{"type": "text", "text": system_prompt}]})
    text = sample.question + " <think>" if force_think else sample.question
    parts: list[dict[str, Any]] = []
    if sample.image is not None:
        parts.append({"type": "image_url", "image_url": {"url": sample.image.to_data_url(image_cache_dir)}})
    parts.append({"type": "text", "text": text})
    messages.append({"role": "user", "content": parts})
    return messages


class OpenAIGenerator:
    """Generation through an OpenAI-compatible endpoint."""

    backend_name = "openai"

    def __init__(
        self,
        client: Any,
        *,
        model: str | None = None,
        system_prompt: str | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        temperature: float = 0.0,
        top_p: float = 1.0,
        image_cache_dir: Path | None = None,
        instruction: MedixInstruction | None = None,
        force_think: bool = False,
    ) -> None:
        self.client = client
        self.instruction = instruction
        self.force_think = force_think
        self.model = model or client.model
        self.system_prompt = system_prompt
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.image_cache_dir = image_cache_dir
        self.identity = f"openai:{self.model}"

    def settings(self) -> dict[str, Any]:
        settings = {
            "system_prompt": self.system_prompt,
            "max_tokens": self.max_tokens,
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
                build_messages, sample, image_cache_dir=self.image_cache_dir, **options
            )
        else:
            messages = build_messages(sample, **options)
        extra = {"model": self.model} if self.model != self.client.model else {}
        return await self.client.complete(
            messages, max_tokens=self.max_tokens, temperature=self.temperature, top_p=self.top_p, **extra
        )


class TransformersGenerator:
    """A local model run in-process, one sample at a time (greedy decoding).

    Uses :func:`medix_r1.models.load_policy` and :func:`medix_r1.models.generate_reply`.
    """

    backend_name = "transformers"

    def __init__(
        self,
        model_path: str,
        *,
        system_prompt: str | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        image_cache_dir: Path | None = None,
        instruction: MedixInstruction | None = None,
    ) -> None:
        self.model_path = model_path
        self.instruction = instruction
        self.system_prompt = system_prompt
        self.max_tokens = max_tokens
        self.image_cache_dir = image_cache_dir
        self.identity = f"transformers:{model_path}"
        self._loaded: tuple[Any, Any] | None = None
        self._lock = asyncio.Lock()

    def settings(self) -> dict[str, Any]:
        settings = {"system_prompt": self.system_prompt, "max_tokens": self.max_tokens, "temperature": 0.0}
        if self.instruction is not None:
            settings.update(self.instruction.settings())
        return settings

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            from medix_r1.models import load_policy
            from medix_r1.models.runs import run_checkpoint

            self._loaded = load_policy(run_checkpoint(self.model_path))  # a run folder: its final model
        return self._loaded

    def _generate_sync(self, sample: EvalSample) -> str:
        from medix_r1.models import generate_reply

        model, processor = self._load()
        image = sample.image.to_pil(self.image_cache_dir) if sample.image is not None else None
        if self.instruction is not None and getattr(processor, "image_processor", None) is not None:
            from medix_r1.models.generation import generate_one

            messages = self.instruction.messages(
                sample.question, with_image=image is not None, system=self.system_prompt
            )
            return generate_one(model, processor, messages, image, max_new_tokens=self.max_tokens)
        if self.instruction is not None and image is None:  # a text-only model: instruction as text
            return generate_reply(
                model,
                processor,
                self.instruction(sample.question),
                system=self.system_prompt,
                max_new_tokens=self.max_tokens,
            )
        return generate_reply(
            model,
            processor,
            sample.question,
            image=image,
            system=self.system_prompt,
            max_new_tokens=self.max_tokens,
        )

    async def generate(self, sample: EvalSample) -> str:
        async with self._lock:  # one forward pass at a time; the model is not re-entrant
            return await asyncio.to_thread(self._generate_sync, sample)


class FakeGenerator:
    """A deterministic stand-in candidate: thinks a line, then answers with the first option of a
    multiple-choice question, or with a fixed phrase. It knows nothing of the reference."""

    backend_name = "fake"

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
