"""Answering backends and reply formatting: the fake, the OpenAI-compatible client on a loopback
server, the GGUF path with a stand-in model, a tiny VLM in-process, and the shared parser's view."""

from __future__ import annotations

import base64
import io
import sys

import pytest
from PIL import Image

from medix_r1.demo import (
    AnswerError,
    FakeAnswerer,
    OpenAIAnswerer,
    answer_question,
    default_model,
    format_reply,
    gguf_reply,
    make_answerer,
    plain_prompt,
)
from medix_r1.demo.app import EMPTY_REPLY_NOTE, MALFORMED_NOTE
from medix_r1.demo.backends import MedixPrompt

# (reply, expected (modality, reasoning, answer)). Why each row:
REPLIES = [
    # the published grammar with <thinking>
    (
        "<X_RAY><thinking>Ribs, lungs.</thinking><answer>Chest radiograph.</answer>",
        ("<X_RAY> X-ray radiography", "Ribs, lungs.", "Chest radiograph"),
    ),
    # the paper's <think>, spaces around tags, a lower-case tag resolved through the taxonomy
    (
        "<ct_scan> <think> Axial slice. </think>\n<answer> Liver lesion </answer>",
        ("<CT_SCAN> Computed tomography", "Axial slice.", "Liver lesion"),
    ),
    # well formed, but the tag is not one of the 16
    (
        "<SCAN_X><think>x</think><answer>A mole</answer>",
        ("<SCAN_X> (not one of the 16 modality tags)", "x", "A mole"),
    ),
    # well formed without any tag
    ("<think>x</think><answer>Yes</answer>", ("(not stated)", "x", "Yes")),
]


@pytest.mark.parametrize(("reply", "fields"), REPLIES)
def test_well_formed_replies_fill_the_three_fields(reply, fields):
    shown = format_reply(reply)
    assert shown.parsed.well_formed
    assert shown.fields() == fields


# Malformed replies: shown raw after the note, reasoning kept when a block was found.
MALFORMED = [
    ("It is a chest film.", ("(not stated)", "", f"{MALFORMED_NOTE}\n\nIt is a chest film.")),
    # reasoning but no answer block
    (
        "<X_RAY><think>ribs</think> chest",
        ("<X_RAY> X-ray radiography", "ribs", f"{MALFORMED_NOTE}\n\n<X_RAY><think>ribs</think> chest"),
    ),
    # text after the answer block breaks the grammar
    (
        "<think>a</think><answer>b</answer> more",
        ("(not stated)", "a", f"{MALFORMED_NOTE}\n\n<think>a</think><answer>b</answer> more"),
    ),
    ("   ", ("(not stated)", "", EMPTY_REPLY_NOTE)),
]


@pytest.mark.parametrize(("reply", "fields"), MALFORMED)
def test_malformed_replies_are_shown_raw_with_a_note(reply, fields):
    shown = format_reply(reply)
    assert not shown.parsed.well_formed
    assert shown.fields() == fields


def test_fake_backend_is_deterministic_and_says_it_is_fake():
    grey = Image.new("L", (64, 32)).convert("RGB")
    colour = Image.new("RGB", (10, 10), (200, 30, 30))
    fake = FakeAnswerer()
    assert fake.answer("Q", grey) == fake.answer("Q", grey.copy())
    shown = format_reply(fake.answer("Which organ?", grey))
    assert shown.fields() == (
        "<OTHER> Other",
        "FAKE BACKEND: no model was run. It was given a 64x32 greyscale image; question digest 42f8c9.",
        "This is a canned reply from the fake backend, not a model answer",
    )
    assert "10x10 colour image" in fake.answer("Which organ?", colour)
    assert FakeAnswerer(reply="fixed").answer("anything") == "fixed"


def test_answer_question_reads_uploads_and_refuses_an_empty_question(chest_png):
    shown = answer_question(FakeAnswerer(), str(chest_png), "  Which region?  ")
    assert "211x224 greyscale image" in shown.reasoning
    with pytest.raises(ValueError, match="Type a question"):
        answer_question(FakeAnswerer(), str(chest_png), "   ")


def test_make_answerer_suggests_close_names():
    assert isinstance(make_answerer("fake"), FakeAnswerer)
    with pytest.raises(ValueError, match="did you mean 'transformers'"):
        make_answerer("transformer")


def test_default_model_prefers_the_quickstart_checkpoint(tmp_path):
    assert default_model(tmp_path) == "demo-vlm"
    (tmp_path / "runs/quickstart/checkpoint").mkdir(parents=True)
    assert default_model(tmp_path) == "demo-vlm"  # a folder without config.json is no model
    (tmp_path / "runs/quickstart/checkpoint/config.json").write_text("{}")
    assert default_model(tmp_path) == str(tmp_path / "runs/quickstart/checkpoint")
    (tmp_path / "runs/quickstart/final").mkdir()
    (tmp_path / "runs/quickstart/final/config.json").write_text("{}")
    assert default_model(tmp_path) == str(tmp_path / "runs/quickstart/final")


def test_medix_prompt_is_the_training_instruction():
    prompts = pytest.importorskip("medix_r1.prompting")
    from medix_r1.parsing import THINK

    instruction_text = prompts.instruction_text

    assert MedixPrompt("think")("Which organ?") == f"{instruction_text(THINK)}\nWhich organ?"
    assert plain_prompt("Which organ?") == "Which organ?"


# -- OpenAI-compatible server ------------------------------------------------------------------


def test_openai_backend_sends_the_image_as_a_png_data_uri(chest_png):
    from medix_r1.testing.loopback import LoopbackChatServer

    seen = []

    def reply(messages, body):
        seen.append((messages, body))
        return "<X_RAY><thinking>Lungs.</thinking><answer>Chest</answer>"

    image = Image.open(chest_png).convert("RGB")
    with LoopbackChatServer(reply) as server:
        answerer = OpenAIAnswerer(server.base_url, "medix-r1-2b", prompt_builder=str.upper, api_key_env=None)
        shown = answer_question(answerer, image, "Which region?")
    assert shown.fields() == ("<X_RAY> X-ray radiography", "Lungs.", "Chest")
    ((messages, body),) = seen
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("medix-r1-2b", 0.0, 2048)
    image_part, text_part = messages[0]["content"]
    assert text_part["text"] == "WHICH REGION?"  # the prompt builder's text
    url = image_part["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert sent.tobytes() == image.tobytes()  # lossless


def test_openai_backend_without_image_sends_plain_text():
    answerer = OpenAIAnswerer("http://127.0.0.1:9/v1", "m", prompt_builder=plain_prompt, api_key_env=None)
    assert answerer.messages("Hi") == [{"role": "user", "content": "Hi"}]


def test_openai_backend_down_is_an_answer_error(unused_port):
    url = f"http://127.0.0.1:{unused_port}/v1"  # nothing listens there
    answerer = OpenAIAnswerer(url, "m", api_key_env=None, max_retries=0, timeout_s=5)
    with pytest.raises(
        AnswerError, match=r"did not answer after 1 attempt\(s\): connection error.*vllm serve"
    ):
        answerer.answer("Hi")


def test_openai_backend_wrong_model_name_is_an_answer_error():
    from medix_r1.testing.loopback import LoopbackChatServer

    class Refusing(LoopbackChatServer):
        async def _respond(self, method, path, raw):
            return 404, b'{"error": "model not found"}', ""

    with Refusing() as server:
        answerer = OpenAIAnswerer(server.base_url, "nope", api_key_env=None, max_retries=0)
        with pytest.raises(AnswerError, match=r"refused the request \(HTTP 404\); check --model-name 'nope'"):
            answerer.answer("Hi")


# -- GGUF --------------------------------------------------------------------------------------


class _StandInLlama:
    """Duck-typed ``llama_cpp.Llama``: records the request, answers with a fixed reply."""

    def __init__(self, chat_handler=None):
        self.chat_handler = chat_handler
        self.calls = []

    def create_chat_completion(self, **kwargs):
        self.calls.append(kwargs)
        return {
            "choices": [
                {"message": {"role": "assistant", "content": " <X_RAY><think>a</think><answer>b</answer> "}}
            ]
        }


def test_gguf_reply_sends_openai_style_parts():
    llm = _StandInLlama(chat_handler=object())
    image = Image.new("RGB", (8, 8))
    assert (
        gguf_reply(llm, "Q?", image, system="S", max_new_tokens=7)
        == "<X_RAY><think>a</think><answer>b</answer>"
    )
    (call,) = llm.calls
    assert (call["max_tokens"], call["temperature"]) == (7, 0.0)
    system, user = call["messages"]
    assert system == {"role": "system", "content": "S"}
    assert [p["type"] for p in user["content"]] == ["image_url", "text"]
    assert user["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")


def test_gguf_reply_without_mmproj_refuses_images():
    with pytest.raises(AnswerError, match="without an mmproj file"):
        gguf_reply(_StandInLlama(), "Q?", Image.new("RGB", (8, 8)))
    assert gguf_reply(_StandInLlama(), "Q?").startswith("<X_RAY>")


def test_gguf_backend_names_the_extra_when_llama_cpp_is_missing(monkeypatch, tmp_path):
    from medix_r1.models.extras import MissingExtraError

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import fails as if not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'medix-r1\[gguf\]'"):
        make_answerer("gguf", model_path=tmp_path / "m.gguf")


# -- transformers ------------------------------------------------------------------------------


@pytest.mark.slow
def test_transformers_backend_answers_with_a_tiny_vlm(tmp_path_factory, chest_png):
    pytest.importorskip("transformers")
    from medix_r1.demo import TransformersAnswerer

    answerer = TransformersAnswerer(
        "tiny-qwen2-vl", cache_dir=tmp_path_factory.mktemp("cache"), max_new_tokens=8, device="cpu"
    )
    first = answer_question(answerer, str(chest_png), "Which region?")
    second = answer_question(answerer, str(chest_png), "Which region?")
    assert first.fields() == second.fields()  # greedy decoding
    assert first.parsed.raw  # a random tiny model says something, and it is shown


@pytest.mark.slow
def test_transformers_backend_asks_a_run_checkpoint_as_training_did(tmp_path, monkeypatch, chest_png):
    """A quickstart-style run folder: the demo uses the run's template and tag variant, and puts the
    image between the instruction and the question, as training did."""
    pytest.importorskip("transformers")
    import shutil

    import yaml
    from PIL import Image

    from medix_r1.demo import TransformersAnswerer
    from medix_r1.models import generation
    from medix_r1.models.tiny import tiny_vlm_dir
    from medix_r1.parsing import THINK
    from medix_r1.prompting import COMPACT_TEMPLATE, question_messages

    run = tmp_path / "run"
    shutil.copytree(tiny_vlm_dir("qwen2-vl"), run / "final")
    config = {"prompt": {"template": COMPACT_TEMPLATE}, "reward": {"preset": "medix-r1-think"}}
    (run / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    seen: list[dict] = []
    real = generation.generate_batch

    def recording(model, processor, rows, **kw):
        seen.extend(rows)
        return real(model, processor, rows, **kw)

    monkeypatch.setattr(generation, "generate_batch", recording)
    assert TransformersAnswerer(run).model == str(run / "final")  # a run folder means its final model
    answerer = TransformersAnswerer(run / "final", max_new_tokens=4, device="cpu")
    assert (
        answerer.prompt_builder.template == COMPACT_TEMPLATE and answerer.prompt_builder.think_tag == "think"
    )
    answerer.answer("Which region?", Image.open(chest_png))
    answerer.answer("What is a PET scan?")
    with_image, text_only = seen
    assert with_image["prompt"] == question_messages(
        "Which region?", THINK, with_image=True, template=COMPACT_TEMPLATE
    )
    assert [p["type"] for p in with_image["prompt"][0]["content"]] == ["text", "image", "text"]
    assert len(with_image["images"]) == 1
    assert [p["type"] for p in text_only["prompt"][0]["content"]] == ["text"] and text_only["images"] == []
