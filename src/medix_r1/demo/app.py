"""The web demo: ask a medical VLM about an image and read its modality, reasoning and answer.

    medix-r1 demo                                   # default model, http://127.0.0.1:7860
    medix-r1 demo --model runs/quickstart/final     # a trained checkpoint (or a hub id)
    medix-r1 demo --base-url http://localhost:8000/v1 --model-name medix-r1-8b   # a vLLM server

:func:`build_app` makes the Gradio ``Blocks`` (nothing is served); :func:`launch` serves it on
loopback (``share=True`` asks Gradio for a public link). The page has an upload (PNG, JPEG or DICOM,
checked by :mod:`medix_r1.demo.uploads`), a question box and an **Ask** button; the reply is parsed by
the shared parser (:func:`medix_r1.parsing.parse_response`) into **Modality**, **Reasoning** and
**Answer**. A reply that does not follow the ``<TAG><think>..</think><answer>..</answer>`` grammar is
shown raw in the Answer field after a note, never as an error page. The same function is the
``ask`` API endpoint (``gradio_client.Client(url).predict(handle_file(path), question, api_name="/ask")``
returns the three strings).

The logic lives in :func:`answer_question` (no Gradio needed, so tests and other front ends call it);
Gradio is imported only inside :func:`build_app` and :func:`launch` (the optional ``demo`` extra).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medix_r1.demo.backends import Answerer, AnswerError
from medix_r1.demo.uploads import ACCEPTED_TEXT, MAX_UPLOAD_BYTES, UploadError, read_upload
from medix_r1.parsing import ParsedResponse, parse_response

if TYPE_CHECKING:  # pragma: no cover
    import gradio as gr

__all__ = [
    "DEMO_EXTRA",
    "CLINICAL_NOTICE",
    "MALFORMED_NOTE",
    "EMPTY_REPLY_NOTE",
    "DEFAULT_PORT",
    "DemoAnswer",
    "DemoExample",
    "DEMO_EXAMPLES",
    "answer_question",
    "format_reply",
    "example_rows",
    "samples_dir",
    "build_app",
    "launch",
]

DEMO_EXTRA = "pip install 'medix-r1[demo]'"
DEFAULT_PORT = 7860
CLINICAL_NOTICE = (
    "**Research prototype, not for clinical use.** Answers come from an experimental model and can be "
    "wrong or invented. Do not use them to diagnose, treat or advise anyone, and do not upload images "
    "that identify a patient."
)
MALFORMED_NOTE = (
    "Note: the model's reply did not follow the expected <MODALITY><think>...</think><answer>...</answer> "
    "format, so it is shown raw below."
)
EMPTY_REPLY_NOTE = "Note: the model returned an empty reply."


@dataclass(frozen=True)
class DemoAnswer:
    """What the page shows for one question: three field texts, and the parse behind them."""

    modality: str
    reasoning: str
    answer: str
    parsed: ParsedResponse

    def fields(self) -> tuple[str, str, str]:
        return self.modality, self.reasoning, self.answer


def _modality_text(parsed: ParsedResponse) -> str:
    from medix_r1.modality import resolve_modality

    if not parsed.modality:
        return "(not stated)"
    tag = parsed.modality_name
    if tag is None:
        return f"{parsed.modality} (not one of the 16 modality tags)"
    return f"{tag} {resolve_modality(tag).label}"


def format_reply(reply: str) -> DemoAnswer:
    """Split a raw model reply into the page's three fields with the shared parser.

    >>> format_reply("<X_RAY><think>Ribs and lungs.</think><answer>Chest radiograph</answer>").fields()
    ('<X_RAY> X-ray radiography', 'Ribs and lungs.', 'Chest radiograph')
    >>> print(format_reply("I think it is a chest film.").answer)
    Note: the model's reply did not follow the expected <MODALITY><think>...</think><answer>...</answer> format, so it is shown raw below.
    <BLANKLINE>
    I think it is a chest film.
    """
    parsed = parse_response(reply)
    if parsed.well_formed:
        return DemoAnswer(_modality_text(parsed), parsed.reasoning or "", parsed.answer, parsed)
    if not reply.strip():
        return DemoAnswer("(not stated)", "", EMPTY_REPLY_NOTE, parsed)
    return DemoAnswer(_modality_text(parsed), parsed.reasoning or "", f"{MALFORMED_NOTE}\n\n{reply}", parsed)


def answer_question(answerer: Answerer, image: Any, question: str) -> DemoAnswer:
    """Validate the inputs, ask ``answerer``, and format its reply.

    ``image`` is ``None``, a file path or bytes of a PNG / JPEG / DICOM upload, or a PIL image.

    Raises:
        UploadError: the upload is unusable (message for the person).
        ValueError: the question is empty.
        AnswerError: the backend failed (server down, model cannot see images...).
    """
    question = (question or "").strip()
    if not question:
        raise ValueError("Type a question about the image first.")
    picture = None
    if image is not None:
        from PIL import Image

        picture = image.convert("RGB") if isinstance(image, Image.Image) else read_upload(image)
    return format_reply(answerer.answer(question, picture))


# -- examples ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoExample:
    """One row of the examples table: an image of the bundled sample set and a question about it."""

    image: str  # file name under the sample set's images/
    question: str
    label: str


DEMO_EXAMPLES: tuple[DemoExample, ...] = (
    DemoExample(
        "chest-cr-full-orig.png", "What imaging modality is shown, and which body region?", "Chest X-ray"
    ),
    DemoExample("tibia-cr-full-orig.png", "What finding is documented in this radiograph?", "Tibia X-ray"),
    DemoExample("head-ct-full-orig.png", "Which imaging technique produced this image?", "Head CT"),
    DemoExample("liver-mr-full-orig.png", "Which organ is shown and what does it contain?", "Liver MRI"),
    DemoExample("obstetric-us-full-orig.png", "What kind of scan is this?", "Obstetric ultrasound"),
    DemoExample("retina-fundus-full-orig.png", "Is this fundus normal?", "Retina fundus photo"),
    DemoExample("colon-ihc-full-orig.png", "What stain was used on this tissue?", "Colon histology"),
)


def samples_dir() -> Path:
    """Where the demo keeps the bundled sample set: ``$MEDIX_R1_CACHE`` (or ``~/.cache/medix-r1``) / samples
    (:func:`medix_r1.models.cache.samples_cache_dir`, shared with training and evaluation)."""
    from medix_r1.models.cache import samples_cache_dir

    return samples_cache_dir()


def example_rows(directory: str | os.PathLike[str] | None = None) -> tuple[list[list[str]], list[str]]:
    """``([[image path, question], ...], [label, ...])`` for the examples table.

    Builds the sample set on first use (a few seconds; needs the ``data`` extra); a DICOM file that
    pydicom ships is added so the table also shows a DICOM upload. Images the set lacks are skipped.
    """
    from medix_r1.data.samples import ensure_samples

    info = ensure_samples(directory if directory is not None else samples_dir())
    rows, labels = [], []
    for example in DEMO_EXAMPLES:
        path = info.images_dir / example.image
        if path.is_file():
            rows.append([str(path), example.question])
            labels.append(example.label)
    try:
        from pydicom.data import get_testdata_file

        dicom = get_testdata_file("CT_small.dcm")
    except ImportError:  # pragma: no cover - pydicom is part of the data extra
        dicom = None
    if dicom:
        rows.append([str(dicom), "Which imaging modality produced this DICOM image?"])
        labels.append("Body CT (DICOM file)")
    return rows, labels


# -- Gradio ------------------------------------------------------------------------------------


def _gradio() -> Any:
    try:
        import gradio
    except ImportError as exc:
        from medix_r1.models.extras import MissingExtraError

        raise MissingExtraError(
            f"the web demo needs the Python package 'gradio', which is not installed. Install it with: {DEMO_EXTRA}"
        ) from exc
    return gradio


_CSS = """
#notice { border-left: 6px solid #b45309; background: #fffbeb; padding: 0.5em 1em; }
#notice p { color: #78350f; margin: 0; }
/* The three answer fields are read-only, not disabled: keep their text at full contrast. */
#modality textarea, #reasoning textarea, #answer textarea {
  color: var(--body-text-color) !important; -webkit-text-fill-color: var(--body-text-color); opacity: 1;
}
"""


def build_app(
    answerer: Answerer | None = None,
    *,
    examples: bool = True,
    examples_dir: str | os.PathLike[str] | None = None,
    title: str = "MediX-R1 demo",
) -> gr.Blocks:
    """The demo page as a ``gradio.Blocks`` (not yet served; see :func:`launch`).

    ``answerer`` defaults to the ``transformers`` backend on :func:`~medix_r1.demo.backends.default_model`
    (loaded on the first question, or by :func:`launch`). ``examples=False`` leaves out the examples
    table (it needs the bundled sample set).
    """
    gr = _gradio()
    if answerer is None:
        from medix_r1.demo.backends import TransformersAnswerer

        answerer = TransformersAnswerer()

    def preview(file: str | None) -> Any:
        if not file:
            return None
        try:
            return read_upload(file)
        except UploadError as exc:
            raise gr.Error(str(exc), title="Cannot use this file", print_exception=False) from None

    def ask(image: str | None, question: str) -> tuple[str, str, str]:
        try:
            return answer_question(answerer, image, question).fields()
        except UploadError as exc:
            raise gr.Error(str(exc), title="Cannot use this file", print_exception=False) from None
        except AnswerError as exc:
            raise gr.Error(
                f"The model could not answer: {exc}", title="Model error", print_exception=False
            ) from None
        except ValueError as exc:  # empty question
            raise gr.Error(str(exc), title="Missing question", print_exception=False) from None

    with gr.Blocks(title=title, analytics_enabled=False) as app:
        gr.Markdown(
            f"# {title}\nAsk a medical vision-language model about an image; it names the "
            "imaging modality, reasons, then answers in free text."
        )
        gr.Markdown(CLINICAL_NOTICE, elem_id="notice")
        gr.Markdown(f"Model: `{answerer.describe()}`", elem_id="model-line")
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(label=f"Image ({ACCEPTED_TEXT})", type="filepath", elem_id="image-file")
                shown = gr.Image(
                    label="What the model sees", type="pil", interactive=False, height=240, elem_id="preview"
                )
                question = gr.Textbox(
                    label="Question",
                    placeholder="e.g. What imaging modality is shown?",
                    lines=2,
                    elem_id="question",
                )
                button = gr.Button("Ask", variant="primary", elem_id="ask")
            with gr.Column(scale=1):
                modality = gr.Textbox(label="Modality", interactive=False, elem_id="modality")
                reasoning = gr.Textbox(label="Reasoning", interactive=False, lines=6, elem_id="reasoning")
                answer = gr.Textbox(label="Answer", interactive=False, lines=4, elem_id="answer")
        upload.change(preview, upload, shown, api_visibility="private")
        gr.on(
            triggers=[button.click, question.submit],
            fn=ask,
            inputs=[upload, question],
            outputs=[modality, reasoning, answer],
            api_name="ask",
            api_description="Answer a question about an image; returns (modality, reasoning, answer).",
            concurrency_limit=1,  # one generation at a time: a CPU model is not re-entrant
        )
        if examples:
            rows, labels = example_rows(examples_dir)
            gr.Examples(
                rows,
                inputs=[upload, question],
                example_labels=labels,
                label="Examples (bundled sample images)",
            )
    # launch() needs these: the model to preload, and the folders the example files live in.
    app.medix_answerer = answerer  # type: ignore[attr-defined]
    app.medix_allowed_paths = sorted({str(Path(row[0]).parent) for row in rows}) if examples else []  # type: ignore[attr-defined]
    return app


def launch(
    app: gr.Blocks | None = None,
    *,
    answerer: Answerer | None = None,
    host: str = "127.0.0.1",
    port: int | None = DEFAULT_PORT,
    share: bool = False,
    preload: bool = True,
    block: bool = True,
    quiet: bool = False,
) -> gr.Blocks:
    """Serve the demo on ``host:port`` (loopback by default; ``share=True`` adds a Gradio share link).

    ``preload`` loads the model before serving, so the first question is not the slow one.
    ``block=False`` returns once the server runs (tests; stop it with ``app.close()``).
    """
    _gradio()
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    if app is None:
        app = build_app(answerer)
    if preload:
        app.medix_answerer.load()  # type: ignore[attr-defined]
    app.queue(default_concurrency_limit=1)
    app.launch(
        server_name=host,
        server_port=port,
        share=share,
        prevent_thread_lock=not block,
        quiet=quiet,
        allowed_paths=list(getattr(app, "medix_allowed_paths", [])),
        # Gradio's own cut-off, far above ours: files between the two get our clearer message, and
        # nothing huge is written to disk first.
        max_file_size=4 * MAX_UPLOAD_BYTES,
        ssr_mode=False,
        mcp_server=False,
        css=_CSS,
    )
    return app
