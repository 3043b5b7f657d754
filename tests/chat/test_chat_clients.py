"""The one chat-client package: its registry, its role-named errors, and its one message builder.

Judges, the evaluation's candidate and the demo all ask models through ``medix_r1.chat``. These
tests check that an outage names the role that failed and the URL (a real closed port on
127.0.0.1, so the client's own connection error is what is reported), that a candidate or demo
outage is never a judge error, that every error crosses a pickle with its fields, and that every
message sent anywhere is built by ``medix_r1.chat.messages``.
"""

from __future__ import annotations

import asyncio
import io
import pickle
import socket
import warnings
from pathlib import Path

import pytest
from PIL import Image

import medix_r1
from medix_r1.chat import (
    CANDIDATE,
    CHAT_BACKENDS,
    DEMO,
    JUDGE,
    ChatRejectedError,
    ChatUnavailableError,
    FakeClient,
    JudgeConfigError,
    JudgeError,
    JudgeUnavailableError,
    OpenAIClient,
    UnknownBackendError,
    chat_messages,
    make_chat_client,
)
from medix_r1.chat import messages as builder
from medix_r1.testing.loopback import LoopbackChatServer


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ask(client, text: str = "Hi") -> str:
    async def go() -> str:
        try:
            return await client.complete(chat_messages(text), max_new_tokens=4)
        finally:
            await client.aclose()

    return asyncio.run(go())


# -- one registry -------------------------------------------------------------------------------


def test_registry_holds_the_four_backends():
    assert sorted(CHAT_BACKENDS) == ["fake", "gguf", "openai", "transformers"]
    assert make_chat_client("fake", role=CANDIDATE).endpoint == "fake://candidate"
    assert make_chat_client("openai", role=JUDGE, base_url="http://h:1/v1", model="m").backend == "openai"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: make_chat_client("opena", role=CANDIDATE),
            "unknown candidate backend 'opena'; did you mean 'openai'? "
            "Valid backends: fake, gguf, openai, transformers",
        ),
        (
            lambda: __import__("medix_r1.judges", fromlist=["x"]).make_chat_backend("transformer"),
            "unknown judge backend 'transformer'; did you mean 'transformers'? "
            "Valid backends: fake, gguf, openai, transformers",
        ),
        (
            lambda: __import__("medix_r1.demo", fromlist=["x"]).make_answerer("ggfu"),
            "unknown demo backend 'ggfu'; did you mean 'gguf'? Valid backends: fake, gguf, openai, transformers",
        ),
    ],
    ids=["chat", "judges", "demo"],
)
def test_unknown_backend_names_did_you_mean_and_the_valid_names(build, message):
    # One lookup, one message shape, for the judges, the demo and the registry itself.
    with pytest.raises(UnknownBackendError) as info:
        build()
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)  # callers' `except ValueError` keeps working


def test_a_part_of_the_package_offers_a_subset_of_the_registry():
    from medix_r1.chat import check_backend

    assert check_backend("fake", role=CANDIDATE, among=("openai", "transformers", "fake")) == "fake"
    with pytest.raises(UnknownBackendError, match=r"'gguf'\. Valid backends: fake, openai, transformers$"):
        check_backend("gguf", role=CANDIDATE, among=("openai", "transformers", "fake"))


def test_every_part_of_the_package_names_registered_backends():
    from medix_r1.demo import ANSWERER_BACKENDS
    from medix_r1.evaluation.config import BACKENDS, JUDGE_BACKENDS

    assert set(BACKENDS) <= set(CHAT_BACKENDS) and set(JUDGE_BACKENDS) <= set(CHAT_BACKENDS)
    assert set(ANSWERER_BACKENDS) == set(CHAT_BACKENDS)
    assert all(cls.backend == name for name, cls in {**CHAT_BACKENDS, **ANSWERER_BACKENDS}.items())


def test_importing_the_package_loads_no_http_library_or_model():
    import subprocess
    import sys

    code = (
        "import sys, medix_r1.chat, medix_r1.judges; "
        "print(sorted(m for m in ('aiohttp', 'torch', 'transformers', 'llama_cpp') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_role_must_be_one_of_the_three():
    with pytest.raises(ValueError, match="role must be one of 'judge', 'candidate', 'demo model'"):
        FakeClient(role="grader")


# -- errors name the role and the URL -----------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "error_type"),
    [(JUDGE, JudgeUnavailableError), (CANDIDATE, ChatUnavailableError), (DEMO, ChatUnavailableError)],
)
def test_an_outage_names_the_role_and_the_url(role, error_type):
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    client = OpenAIClient(url, "m", role=role, api_key_env=None, max_retries=0, timeout_s=5)
    with pytest.raises(ChatUnavailableError) as info:
        _ask(client)
    error = info.value
    assert type(error) is error_type
    assert isinstance(error, JudgeError) is (role == JUDGE)  # a candidate outage is no judge error
    assert (error.role, error.endpoint, error.attempts) == (role, f"{url}/chat/completions", 1)
    assert str(error).startswith(
        f"{role} at {url}/chat/completions failed after 1 attempt(s): connection error"
    )
    assert str(error).endswith(f"Check that the {role} server is up and reachable.")


@pytest.mark.parametrize(("role", "error_type"), [(JUDGE, JudgeConfigError), (CANDIDATE, ChatRejectedError)])
def test_a_refused_request_names_the_role_and_the_url(role, error_type):
    class Refusing(LoopbackChatServer):
        async def _respond(self, method, path, raw):
            return 404, b'{"error": "model not found"}', ""

    with Refusing() as server:
        client = OpenAIClient(server.base_url, "nope", role=role, api_key_env=None, max_retries=3)
        with pytest.raises(ChatRejectedError) as info:
            _ask(client)
    assert type(info.value) is error_type and info.value.status == 404
    assert str(info.value) == (
        f"{role} at {server.base_url}/chat/completions rejected the request with HTTP 404: "
        '{"error": "model not found"}'
    )


def test_one_server_shared_by_candidate_and_judge_names_each_role():
    # eval run with the candidate and the judge on one vLLM server: one pool, one limit, two roles.
    from medix_r1.evaluation.generation import OpenAIGenerator
    from medix_r1.evaluation.judging import JudgeProtocol
    from medix_r1.evaluation.tasks import EvalSample

    url = f"http://127.0.0.1:{_closed_port()}/v1"
    shared = OpenAIClient(url, "m", role=CANDIDATE, api_key_env=None, max_retries=0, timeout_s=5)
    generator, judge = OpenAIGenerator(shared), JudgeProtocol(shared)
    assert generator.client.role == CANDIDATE and judge.client.role == JUDGE
    assert judge.client._states is shared._states and judge.client.stats is shared.stats

    sample = EvalSample(id="t_0", task="t", index=0, question="Q?", answer="A")
    with pytest.raises(ChatUnavailableError) as candidate:
        asyncio.run(generator.generate(sample))
    with pytest.raises(JudgeUnavailableError) as judged:
        asyncio.run(judge.judge("Q?", "A", "A", "binary"))
    assert not isinstance(candidate.value, JudgeError)
    assert str(candidate.value).startswith(f"candidate at {url}/chat/completions failed")
    assert str(judged.value).startswith(f"judge at {url}/chat/completions failed")


def test_eval_run_reports_a_candidate_outage_as_the_candidates(tmp_path):
    from medix_r1.evaluation import run_eval
    from medix_r1.evaluation.generation import FakeGenerator, OpenAIGenerator
    from medix_r1.evaluation.runner import BackendFailedError, EvalRunError
    from medix_r1.evaluation.tasks import EvalSample

    url = f"http://127.0.0.1:{_closed_port()}/v1"
    client = OpenAIClient(url, "cand", role=CANDIDATE, api_key_env=None, max_retries=0, timeout_s=5)
    sample = EvalSample(id="t_0", task="t", index=0, question="Q?", answer="A")
    with pytest.raises(
        EvalRunError, match=f"the candidate \\(cand\\) at {url}/chat/completions failed"
    ) as info:
        run_eval(
            "cand", [], tmp_path, phases=("generate",), generator=OpenAIGenerator(client), samples=[sample]
        )
    failed = info.value.__cause__
    assert isinstance(failed, BackendFailedError)
    assert failed.role == "candidate" and failed.endpoint == f"{url}/chat/completions"
    assert type(failed.__cause__) is ChatUnavailableError and failed.__cause__.role == CANDIDATE
    assert FakeGenerator().endpoint == "fake://candidate"


def test_demo_outage_is_the_demo_models_not_a_judges():
    from medix_r1.demo import AnswerError, OpenAIAnswerer

    url = f"http://127.0.0.1:{_closed_port()}/v1"
    answerer = OpenAIAnswerer(url, "m", api_key_env=None, max_retries=0, timeout_s=5)
    assert answerer.endpoint == f"{url}/chat/completions"
    with pytest.raises(
        AnswerError, match=f"the model server at {url}/chat/completions did not answer"
    ) as info:
        answerer.answer("Hi")
    cause = info.value.__cause__
    assert type(cause) is ChatUnavailableError and cause.role == DEMO
    assert "judge" not in str(info.value) and "judge" not in str(cause)


def test_judge_path_still_raises_judge_unavailable():
    from medix_r1.judges import AnswerMatchJudge, make_chat_backend

    url = f"http://127.0.0.1:{_closed_port()}/v1"
    judge = AnswerMatchJudge(
        make_chat_backend("openai", base_url=url, model="j", api_key_env=None, max_retries=0)
    )
    with pytest.raises(
        JudgeUnavailableError, match=f"^judge at {url}/chat/completions failed after 1 attempt"
    ):
        asyncio.run(judge.amatch([("left lung", "left lung")]))


# -- errors and clients cross processes ---------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        ChatUnavailableError("http://gpu:8000/v1/chat/completions", 3, "HTTP 503", role=CANDIDATE),
        ChatRejectedError("http://gpu:8000/v1/chat/completions", 401, "bad key", role=DEMO),
        JudgeUnavailableError("http://judge:8085/v1/chat/completions", 5, "timed out after 60 s"),
        JudgeConfigError("http://judge:8085/v1/chat/completions", 404, "no such model"),
        UnknownBackendError("opena", "judge", ["fake", "openai"]),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_pickle_with_their_fields(error):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error) and copy.__dict__ == error.__dict__
    assert isinstance(copy, (RuntimeError, ValueError))


def test_a_role_view_pickles_and_keeps_its_role():
    client = OpenAIClient("http://h:1/v1", "m", role=CANDIDATE, api_key_env=None)
    view = pickle.loads(pickle.dumps(client.with_role(JUDGE)))
    assert (view.role, view.url, view._owner) == (JUDGE, "http://h:1/v1/chat/completions", None)
    assert client.role == CANDIDATE


# -- one message builder ------------------------------------------------------------------------


def test_every_caller_builds_its_messages_with_the_one_builder(monkeypatch):
    """Judges (reward and evaluation), the evaluation's candidate and the demo (server and GGUF)
    all go through ``medix_r1.chat.messages``: spied on, every turn and image part is counted."""
    from medix_r1.demo import OpenAIAnswerer, gguf_reply
    from medix_r1.evaluation.generation import sample_messages
    from medix_r1.evaluation.judging import JudgeProtocol, fake_judge_reply
    from medix_r1.evaluation.tasks import EvalSample, ImageRef
    from medix_r1.judges import AnswerMatchJudge, make_chat_backend
    from medix_r1.prompting import MedixInstruction

    calls: list[str] = []
    turn, part = builder._turn, builder.image_part

    def spy_turn(role, text, image_url, parts):
        calls.append(f"turn:{role}")
        return turn(role, text, image_url, parts)

    def spy_part(url):
        calls.append("image")
        return part(url)

    monkeypatch.setattr(builder, "_turn", spy_turn)
    monkeypatch.setattr(builder, "image_part", spy_part)

    def used(action) -> list[str]:
        calls.clear()
        action()
        return list(calls)

    asyncio.run(AnswerMatchJudge(make_chat_backend("fake")).amatch([("a", "a")]))
    assert calls == ["turn:user"]  # the reward's judge
    fake = make_chat_client("fake", role=JUDGE, responder=fake_judge_reply)
    assert used(lambda: asyncio.run(JudgeProtocol(fake, rounds=1).judge("Q?", "A", "A", "binary"))) == [
        "turn:user"
    ]  # the evaluation's judge

    image = Image.new("RGB", (4, 4))
    png = io.BytesIO()
    image.save(png, format="PNG")
    ref = ImageRef(sha="0" * 16, data=png.getvalue())
    sample = EvalSample(id="t_0", task="t", index=0, question="Q?", answer="A", image=ref)
    assert used(lambda: sample_messages(sample, system_prompt="S")) == ["turn:system", "turn:user", "image"]
    assert used(lambda: sample_messages(sample, instruction=MedixInstruction())) == ["image"]

    answerer = OpenAIAnswerer("http://h:1/v1", "m", api_key_env=None)
    assert used(lambda: answerer.messages("Q?", image)) == ["turn:user", "image"]

    class StandInLlama:
        chat_handler = object()

        def create_chat_completion(self, **kwargs):
            return {"choices": [{"message": {"content": "ok"}}]}

    assert used(lambda: gguf_reply(StandInLlama(), "Q?", image)) == ["turn:user", "image"]


def test_no_module_spells_an_image_part_outside_the_builder():
    root = Path(medix_r1.__file__).parent
    spelled = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if '"type": "image_url"' in path.read_text(encoding="utf-8") and path.name != "messages.py"
    ]
    assert spelled == []


# -- one name for the reply cap -----------------------------------------------------------------


def test_max_new_tokens_is_the_reply_cap_and_max_tokens_its_deprecated_alias():
    from medix_r1.evaluation.generation import OpenAIGenerator

    sent = []
    with LoopbackChatServer(lambda messages, body: sent.append(body) or "ok") as server:
        client = OpenAIClient(server.base_url, "m", role=CANDIDATE, api_key_env=None)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")

            async def old_name() -> str:
                try:
                    return await client.complete(chat_messages("Hi"), max_tokens=3)
                finally:
                    await client.aclose()

            assert asyncio.run(old_name()) == "ok"
            old = OpenAIGenerator(client, model="m", max_tokens=7)
        assert _ask(client) == "ok"
    assert [w.category for w in caught] == [DeprecationWarning, DeprecationWarning]
    assert [body["max_tokens"] for body in sent] == [3, 4]  # the OpenAI request field keeps its name
    assert old.max_new_tokens == 7 and old.settings()["max_tokens"] == 7  # the hashed key is unchanged
    with pytest.raises(TypeError, match="needs max_new_tokens"):
        asyncio.run(client.complete(chat_messages("Hi")))
    with pytest.raises(TypeError, match="max_new_tokens"):
        asyncio.run(FakeClient(role=CANDIDATE).complete(chat_messages("Hi")))
