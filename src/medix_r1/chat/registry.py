"""The one registry of chat backends: ``openai``, ``transformers``, ``gguf``, ``fake``.

Judges (:func:`medix_r1.judges.make_chat_backend`), the evaluation's candidate
(:func:`medix_r1.evaluation.launch.build_generator`) and the demo (:func:`medix_r1.demo.make_answerer`)
look their backend names up here, so an unknown name gets one message everywhere: what was asked,
"did you mean", and the names that part of the package accepts.

>>> make_chat_client("fake", role="candidate").endpoint
'fake://candidate'
>>> backend_class("opena", role="judge")
Traceback (most recent call last):
...
medix_r1.chat.registry.UnknownBackendError: unknown judge backend 'opena'; did you mean 'openai'? Valid backends: fake, gguf, openai, transformers
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from medix_r1.chat.base import ChatClient, check_role
from medix_r1.chat.fake import FakeClient
from medix_r1.chat.gguf import GGUFClient
from medix_r1.chat.openai import OpenAIClient
from medix_r1.chat.transformers import TransformersClient
from medix_r1.errors import MedixError, did_you_mean

__all__ = ["CHAT_BACKENDS", "UnknownBackendError", "backend_class", "check_backend", "make_chat_client"]

#: Backend name -> client class.
CHAT_BACKENDS: dict[str, type] = {
    "openai": OpenAIClient,
    "transformers": TransformersClient,
    "gguf": GGUFClient,
    "fake": FakeClient,
}


class UnknownBackendError(MedixError, ValueError):
    """A backend name that is not registered (or not offered by that part of the package)."""

    def __init__(self, name: str, role: str, valid: list[str]) -> None:
        self.name = name
        self.role = role
        self.valid = valid
        hint = did_you_mean(name, valid) or "."
        super().__init__(f"unknown {role} backend {name!r}{hint} Valid backends: {', '.join(valid)}")


def check_backend(name: str, *, role: str, among: Iterable[str] | None = None) -> str:
    """``name`` when it is a registered backend (and one of ``among``, the names that part of the
    package offers), else :class:`UnknownBackendError` (a ``ValueError``) naming ``role``.

    ``role`` may be ``"demo"`` here, for the page's backends, besides the chat roles.
    """
    valid = sorted(CHAT_BACKENDS if among is None else [n for n in among if n in CHAT_BACKENDS])
    if name not in valid:
        raise UnknownBackendError(name, role, valid)
    return name


def backend_class(name: str, *, role: str) -> type:
    """The client class registered as ``name``."""
    return CHAT_BACKENDS[check_backend(name, role=role)]


def make_chat_client(name: str, *, role: str, **options: Any) -> ChatClient:
    """Build the registered client ``name`` for ``role`` (``judge``, ``candidate``, ``demo model``):
    ``openai`` (base_url, model, ...), ``transformers`` (model, ...), ``gguf`` (model_path, mmproj, ...),
    ``fake`` (responder=None)."""
    cls = backend_class(name, role=role)
    return cls(**options, role=check_role(role))
