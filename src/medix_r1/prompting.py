"""What we ask: the MediX-R1 instruction in our own words, and the chat turn it becomes.

The ground floor beside :mod:`medix_r1.parsing` (what we read): training, evaluation and the demo
all ask through here. A training run folder's own prompt settings are read by
:func:`medix_r1.models.runs.run_instruction`.

Published facts (reference section 1), reproduced here with our wording: one user turn, no system
message; the model is told it is a medical assistant that reasons; the 16 modality tags are listed;
it must write exactly one tag first, then its reasoning inside the think tags, then its answer inside
the answer tags, with nothing outside the tags; then ``Question:``, the image, and the question.

The tag names follow the reward's :class:`~medix_r1.parsing.ResponseFormat` (``<thinking>`` in the
parity preset, ``<think>`` in ``medix-r1-think``), so the prompt and the reward never disagree.

>>> text = instruction_text(THINK)
>>> "<think>" in text and "<CT_SCAN>" in text and text.rstrip().endswith("Question:")
True
>>> [p["type"] for p in build_prompt_messages("<image>\\nWhich organ?")[0]["content"]]
['text', 'image', 'text']
"""

from __future__ import annotations

import hashlib
from typing import Any

from medix_r1.modality import MODALITY_TAGS
from medix_r1.parsing import THINK, THINKING, ResponseFormat

__all__ = [
    "IMAGE_PLACEHOLDER",
    "INSTRUCTION_TEMPLATE",
    "COMPACT_TEMPLATE",
    "instruction_text",
    "prompt_text",
    "build_prompt_messages",
    "question_messages",
    "MedixInstruction",
    "prompt_hash",
    "THINK",
    "THINKING",
]

#: Where a record's problem text puts an image (the published records' marker).
IMAGE_PLACEHOLDER = "<image>"

#: Our wording of the MediX-R1 instruction. ``{tags}`` is the 16 tags, ``{think_open}`` etc. the tag
#: names of the response format. Hashed into run metadata by :func:`prompt_hash`.
INSTRUCTION_TEMPLATE = (
    "You are a medical imaging assistant who thinks a problem through before answering.\n"
    "Start your reply with the one tag below that names the imaging modality of the picture:\n"
    "{tags}\n"
    "Write exactly one of these tags, and write it first. After the tag, put your step-by-step "
    "reasoning between {think_open} and {think_close}, then your final answer in plain words "
    "between {answer_open} and {answer_close}. Do not write anything outside these tags.\n"
    "Layout: <TAG>{think_open}reasoning{think_close}{answer_open}answer{answer_close}\n"
    "Question:"
)


#: A compact wording with the same content (the 16 tags, one tag first, the layout, nothing outside the
#: tags), for CPU runs where the ~210-token instruction would be most of every sequence (the quickstart).
COMPACT_TEMPLATE = (
    "Reply as <TAG>{think_open}reasoning{think_close}{answer_open}answer{answer_close} and nothing else; "
    "<TAG> is the one imaging modality tag, out of {tags}, that fits the picture.\nQuestion:"
)


def instruction_text(fmt: ResponseFormat = THINKING, template: str | None = None) -> str:
    """The instruction for a response format (our wording unless ``template`` is given)."""
    return (template or INSTRUCTION_TEMPLATE).format(
        tags=" ".join(MODALITY_TAGS),
        think_open=fmt.think_open,
        think_close=fmt.think_close,
        answer_open=fmt.answer_open,
        answer_close=fmt.answer_close,
    )


def prompt_text(problem: str, fmt: ResponseFormat = THINKING, template: str | None = None) -> str:
    """The whole user turn as text, the image still marked by ``<image>`` (verl / EasyR1 layout).

    A problem without a placeholder gets one in front of the question, as the published records have.
    """
    if IMAGE_PLACEHOLDER not in problem:
        problem = f"{IMAGE_PLACEHOLDER}\n{problem}"
    return f"{instruction_text(fmt, template)} {problem}"


def build_prompt_messages(
    problem: str, fmt: ResponseFormat = THINKING, *, template: str | None = None, system: str | None = None
) -> list[dict[str, Any]]:
    """Chat messages for one record: text and image parts in the order of the prompt text.

    Each ``<image>`` placeholder becomes an ``{"type": "image"}`` part (TRL fills in the pixels);
    the published prompt has no system message, so ``system`` is off by default.
    """
    text = prompt_text(problem, fmt, template)
    parts: list[dict[str, Any]] = []
    pieces = text.split(IMAGE_PLACEHOLDER)
    for i, piece in enumerate(pieces):
        if i:
            parts.append({"type": "image"})
        piece = piece.strip(" ") if i == 0 else piece.lstrip("\n").strip(" ")
        if piece:
            parts.append({"type": "text", "text": piece})
    messages: list[dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": [{"type": "text", "text": system}]})
    messages.append({"role": "user", "content": parts})
    return messages


def question_messages(
    question: str,
    fmt: ResponseFormat = THINKING,
    *,
    with_image: bool,
    template: str | None = None,
    system: str | None = None,
) -> list[dict[str, Any]]:
    """Training's messages for a typed question (chat, demo): instruction, the image slot when there
    is an image, then the question. A ``<image>`` typed in the question is not a slot.

    >>> [p["type"] for p in question_messages("Which organ?", with_image=True)[0]["content"]]
    ['text', 'image', 'text']
    >>> [p["type"] for p in question_messages("Define <image>", with_image=False)[0]["content"]]
    ['text']
    """
    question = question.replace(IMAGE_PLACEHOLDER, "image").strip()
    messages = build_prompt_messages(
        f"{IMAGE_PLACEHOLDER}\n{question}", fmt, template=template, system=system
    )
    if not with_image:  # one text part: the instruction and the question, on separate lines
        text = "\n".join(p["text"] for p in messages[-1]["content"] if p.get("type") == "text")
        messages[-1]["content"] = [{"type": "text", "text": text}]
    return messages


class MedixInstruction:
    """The MediX instruction a model is asked with, outside training (chat, demo, ``eval --prompt medix``).

    ``think_tag`` is ``"thinking"`` (released code, parity preset) or ``"think"`` (paper); ``template``
    a training run's instruction template (None: our full wording). Calling it gives the text-only
    user turn (for backends that send the image apart); :meth:`messages` the training layout.
    A class, so it pickles.

    >>> MedixInstruction("think")("Which organ?").endswith("Question:\\nWhich organ?")
    True
    """

    def __init__(self, think_tag: str = "thinking", template: str | None = None) -> None:
        self.fmt = ResponseFormat(think_tag)
        self.template = template
        self.instruction = instruction_text(self.fmt, template)

    @property
    def think_tag(self) -> str:
        return self.fmt.think_tag

    def messages(self, question: str, *, with_image: bool, system: str | None = None) -> list[dict[str, Any]]:
        """Training's messages for ``question``: instruction, the image slot (if any), the question."""
        return question_messages(
            question, self.fmt, with_image=with_image, template=self.template, system=system
        )

    def __call__(self, question: str) -> str:
        return self.messages(question, with_image=False)[-1]["content"][0]["text"]

    def settings(self) -> dict[str, Any]:
        """What identifies this prompt in a results folder's settings."""
        return {
            "prompt": "medix",
            "think_tag": self.think_tag,
            "instruction": prompt_hash(self.fmt, self.template),
        }


def prompt_hash(fmt: ResponseFormat = THINKING, template: str | None = None) -> str:
    """First 12 hex digits of the SHA-256 of the instruction, recorded in every run's metadata."""
    return hashlib.sha256(instruction_text(fmt, template).encode("utf-8")).hexdigest()[:12]
