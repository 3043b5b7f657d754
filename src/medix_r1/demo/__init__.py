"""The web demo (optional ``demo`` extra): a Gradio page and an ``ask`` API over any answering backend.

* :func:`build_app` / :func:`launch`: the page, and serving it on loopback (``medix-r1 demo``).
* :func:`answer_question` / :func:`format_reply`: the logic behind the page, without Gradio.
* :mod:`~medix_r1.demo.backends`: who answers (``transformers``, ``openai``, ``gguf``, ``fake``): an
  answerer over a client of :mod:`medix_r1.chat` in the ``demo model`` role;
  :func:`load_gguf` and :func:`gguf_reply` also serve ``medix-r1 chat`` for GGUF models.
* :func:`read_upload`: PNG / JPEG / DICOM uploads, checked and decoded.

Importing this package imports neither gradio nor torch; they load when an app is built or a model runs.
"""

from medix_r1.demo.app import (
    CLINICAL_NOTICE,
    DEMO_EXAMPLES,
    DEMO_EXTRA,
    DemoAnswer,
    answer_question,
    build_app,
    example_rows,
    format_reply,
    launch,
)
from medix_r1.demo.backends import (
    ANSWERER_BACKENDS,
    FALLBACK_MODEL,
    QUICKSTART_CHECKPOINTS,
    Answerer,
    AnswerError,
    FakeAnswerer,
    GGUFAnswerer,
    MedixPrompt,
    OpenAIAnswerer,
    TransformersAnswerer,
    default_model,
    default_prompt_builder,
    gguf_reply,
    load_gguf,
    make_answerer,
    plain_prompt,
)
from medix_r1.demo.uploads import UploadError, read_upload

__all__ = [
    "CLINICAL_NOTICE",
    "DEMO_EXAMPLES",
    "DEMO_EXTRA",
    "DemoAnswer",
    "answer_question",
    "build_app",
    "example_rows",
    "format_reply",
    "launch",
    "ANSWERER_BACKENDS",
    "FALLBACK_MODEL",
    "QUICKSTART_CHECKPOINTS",
    "Answerer",
    "AnswerError",
    "FakeAnswerer",
    "GGUFAnswerer",
    "MedixPrompt",
    "OpenAIAnswerer",
    "TransformersAnswerer",
    "default_model",
    "default_prompt_builder",
    "gguf_reply",
    "load_gguf",
    "make_answerer",
    "plain_prompt",
    "UploadError",
    "read_upload",
]
