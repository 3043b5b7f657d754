"""The one builder of chat messages: how every client of the package spells a turn and an image.

The judges, the evaluation's candidate and the demo all build their requests here, so the image
part (an OpenAI ``image_url`` part holding a ``data:`` URL, before the text, as Qwen-VL models are
trained and as the published harness sends it) is written in one place.

Two content shapes, both in use by servers and harnesses we match byte for byte:

- ``parts=True`` (the published evaluation): every content is a list of parts, the system turn too;
- ``parts=False`` (judges, the demo, llama.cpp): plain strings, except a user turn with an image.

>>> chat_messages("Q?", parts=True)
[{'role': 'user', 'content': [{'type': 'text', 'text': 'Q?'}]}]
>>> chat_messages("Q?", image_url="data:image/png;base64,AA", system="Be brief.")
[{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': [{'type': 'image_url', 'image_url': {'url': 'data:image/png;base64,AA'}}, {'type': 'text', 'text': 'Q?'}]}]
>>> fill_image_slots([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Q"}]}], "data:x")
[{'role': 'user', 'content': [{'type': 'image_url', 'image_url': {'url': 'data:x'}}, {'type': 'text', 'text': 'Q'}]}]
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = ["image_part", "text_part", "chat_messages", "fill_image_slots", "image_data_uri"]


def image_part(url: str) -> dict[str, Any]:
    """An OpenAI ``image_url`` content part (``url`` is usually a ``data:`` URL)."""
    return {"type": "image_url", "image_url": {"url": url}}


def text_part(text: str) -> dict[str, Any]:
    """An OpenAI ``text`` content part."""
    return {"type": "text", "text": text}


def _turn(role: str, text: str, image_url: str | None, parts: bool) -> dict[str, Any]:
    if image_url is None and not parts:
        return {"role": role, "content": text}
    content = [image_part(image_url)] if image_url is not None else []
    content.append(text_part(text))
    return {"role": role, "content": content}


def chat_messages(
    text: str, *, image_url: str | None = None, system: str | None = None, parts: bool = False
) -> list[dict[str, Any]]:
    """One user turn (the image first, then ``text``), after a system turn when ``system`` is given."""
    messages = [_turn("system", system, None, parts)] if system is not None else []
    messages.append(_turn("user", text, image_url, parts))
    return messages


def fill_image_slots(messages: list[dict[str, Any]], image_url: str) -> list[dict[str, Any]]:
    """Replace the ``{"type": "image"}`` slots of ready-made messages (training's layout, from
    :meth:`medix_r1.prompting.MedixInstruction.messages`) with the image as an ``image_url`` part, in place."""
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            for i, part in enumerate(content):
                if isinstance(part, dict) and part.get("type") == "image":
                    content[i] = image_part(image_url)
    return messages


def image_data_uri(image: Image.Image) -> str:
    """A PNG ``data:`` URI of ``image`` (lossless: the demo's inputs are often greyscale scans).

    >>> from PIL import Image
    >>> image_data_uri(Image.new("L", (1, 1)))[:30]
    'data:image/png;base64,iVBORw0K'
    """
    from medix_r1.data.images import encode_data_uri

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return encode_data_uri(buffer.getvalue(), "image/png")
