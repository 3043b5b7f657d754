"""Chat clients: how the package asks a model, whoever it is asking for.

One package for the judges, the evaluation's candidate and the demo (DESIGN.md): four backends
(``openai`` over HTTP, ``transformers`` in-process, ``gguf`` through llama.cpp, ``fake``), one
registry of their names (:func:`make_chat_client`), one builder of chat messages and image parts
(:mod:`medix_r1.chat.messages`), and errors that name the role (``judge``, ``candidate``,
``demo model``) and the endpoint. What is specific to a role stays with it: verdict parsing,
prompts, cache and deadline in :mod:`medix_r1.judges`; benchmark prompts and the published protocol
in :mod:`medix_r1.evaluation`; the page in :mod:`medix_r1.demo`.

Importing this package loads no model and no HTTP library.
"""

from medix_r1.chat.base import ChatClient, check_role
from medix_r1.chat.errors import (
    CANDIDATE,
    DEMO,
    JUDGE,
    ROLES,
    ChatError,
    ChatRejectedError,
    ChatUnavailableError,
    JudgeConfigError,
    JudgeError,
    JudgeUnavailableError,
)
from medix_r1.chat.fake import FakeClient
from medix_r1.chat.gguf import GGUFClient, gguf_complete, load_gguf
from medix_r1.chat.messages import chat_messages, fill_image_slots, image_data_uri, image_part
from medix_r1.chat.openai import OpenAIClient
from medix_r1.chat.registry import CHAT_BACKENDS, UnknownBackendError, check_backend, make_chat_client
from medix_r1.chat.stats import ChatStats
from medix_r1.chat.transformers import LocalPolicy, TransformersClient

__all__ = [
    # clients and their registry
    "CHAT_BACKENDS",
    "make_chat_client",
    "check_backend",
    "UnknownBackendError",
    "ChatClient",
    "OpenAIClient",
    "TransformersClient",
    "LocalPolicy",
    "GGUFClient",
    "FakeClient",
    "ChatStats",
    "load_gguf",
    "gguf_complete",
    # messages
    "chat_messages",
    "fill_image_slots",
    "image_part",
    "image_data_uri",
    # roles and errors
    "ROLES",
    "JUDGE",
    "CANDIDATE",
    "DEMO",
    "check_role",
    "ChatError",
    "ChatRejectedError",
    "ChatUnavailableError",
    "JudgeConfigError",
    "JudgeError",
    "JudgeUnavailableError",
]
