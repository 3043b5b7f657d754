"""Bad input on a newcomer's path gives one ``error: ...`` line and an exit code, never a traceback
(issue 17, points 6 and 7): the top-level handler, parse-time range checks, data checks before a
model loads, true messages, keys sent only to their own host, server error bodies redacted."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import typer
from typer.testing import CliRunner

from medix_r1.cli import app as cli
from medix_r1.cli.handler import guard
from medix_r1.errors import MedixError

runner = CliRunner()


def _one_line(output: str) -> str:
    return " ".join(output.split())


# -- the handler ------------------------------------------------------------------------------------
class _Boom(MedixError, ValueError):
    pass


def test_the_handler_turns_our_errors_into_one_line_and_lets_bugs_through():
    app = typer.Typer()

    @app.command()
    def run(what: str) -> None:
        if what == "ours":
            raise _Boom("install it: pip install 'medix-r1[verl]' for [bold]x.jsonl")
        if what == "file":
            raise FileNotFoundError(2, "No such file or directory", "in.jsonl")
        if what == "interrupt":
            raise KeyboardInterrupt
        raise ZeroDivisionError("a bug keeps its traceback")

    app.registered_commands[0].callback = guard(app.registered_commands[0].callback)
    r = runner.invoke(app, ["ours"])
    assert (r.exit_code, r.output) == (
        2,
        "error: install it: pip install 'medix-r1[verl]' for [bold]x.jsonl\n",
    )
    r = runner.invoke(app, ["file"])
    assert (r.exit_code, r.output) == (2, "error: in.jsonl: No such file or directory\n")
    r = runner.invoke(app, ["interrupt"])
    assert (r.exit_code, r.output) == (130, "error: interrupted\n")
    r = runner.invoke(app, ["bug"])
    assert isinstance(r.exception, ZeroDivisionError)


def test_every_command_of_the_cli_is_guarded():
    def walk(t):
        for info in t.registered_commands:
            yield info.callback
        for group in t.registered_groups:
            yield from walk(group.typer_instance)

    callbacks = list(walk(cli))
    assert len(callbacks) > 20 and all(getattr(c, "__medix_guarded__", False) for c in callbacks)


def test_rich_markup_does_not_eat_brackets_in_file_names(tmp_path):
    missing = tmp_path / "[bold]train.jsonl"
    r = runner.invoke(cli, ["data", "stats", str(missing)])
    assert r.exit_code == 2 and "[bold]train.jsonl" in r.output
    r = runner.invoke(cli, ["train", str(tmp_path / "[verl]run.yaml")])
    assert r.exit_code == 2 and "[verl]run.yaml" in r.output


# -- eval run: range checks at parse time, names and URLs before anything starts ----------------------
@pytest.mark.parametrize(
    "args, message",
    [
        (["--concurrency", "0"], "Invalid value for '--concurrency'"),
        (["--judge-rounds", "0"], "Invalid value for '--judge-rounds'"),
        (["--limit", "0"], "Invalid value for '--limit'"),
        (["--model", ""], "--model is empty"),
        (["--model", "/"], "--model '/': model name '/' gives an empty folder name"),
        (["--judge-url", "notaurl"], "--judge-url 'notaurl': expected an http:// or https:// URL"),
        (
            ["--base-url", "localhost:8000"],
            "--base-url 'localhost:8000': expected an http:// or https:// URL",
        ),
        (["--serve", "--judge-backend", "fake"], "a managed server needs vLLM"),
    ],
)
def test_eval_run_bad_flags_are_messages(tmp_path, args, message):
    base = ["eval", "run", "--model", "m", "--tasks", "mini", "--out", str(tmp_path / "r")]
    r = runner.invoke(cli, base + args)
    assert r.exit_code == 2, r.output
    assert message in _one_line(r.output) and "Traceback" not in r.output
    assert not (tmp_path / "r").exists()  # nothing written


# -- data stats --chart -----------------------------------------------------------------------------
def test_data_stats_chart_says_the_file_it_wrote(tmp_path):
    rows = [
        {"id": f"r{i}", "image": [], "source": "s", "problem": "q", "solution": "<CT_SCAN> Liver"}
        for i in range(3)
    ]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = runner.invoke(cli, ["data", "stats", str(data), "--chart", str(tmp_path / "x.txt")])
    assert r.exit_code == 2 and "a chart is written as .png, .svg or .pdf" in _one_line(r.output)
    r = runner.invoke(cli, ["data", "stats", str(data), "--chart", str(tmp_path)])
    assert r.exit_code == 2 and "is a folder: give a file name" in _one_line(r.output)
    r = runner.invoke(cli, ["data", "stats", str(data), "--chart", str(tmp_path / "stats")])
    assert r.exit_code == 0, r.output
    assert f"chart written to {tmp_path / 'stats.png'}" in _one_line(r.output)
    assert (tmp_path / "stats.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob("*.partial"))


# -- demo -------------------------------------------------------------------------------------------
def test_demo_on_a_taken_port_or_a_bad_port_is_a_message_before_any_model_loads(monkeypatch):
    import medix_r1.demo

    def no_model(*a, **k):
        raise AssertionError("no model may load before the port is checked")

    monkeypatch.setattr(medix_r1.demo, "make_answerer", no_model)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = runner.invoke(cli, ["demo", "--port", str(port)])
    assert r.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in r.output
    r = runner.invoke(cli, ["demo", "--port", "-1"])
    assert r.exit_code == 2 and "Invalid value for '--port'" in _one_line(r.output)


# -- train: data before the model; hub-only names offline ----------------------------------------------
def test_train_checks_the_data_before_any_model_loads(tmp_path, monkeypatch):
    import medix_r1.models

    def no_model(*a, **k):
        raise AssertionError("the model loaded before the data was checked")

    monkeypatch.setattr(medix_r1.models, "load_policy", no_model)
    r = runner.invoke(cli, ["train", "quickstart", f"data.train={tmp_path / 'missing.jsonl'}"])
    assert r.exit_code == 2 and "data.train=" in r.output and "missing.jsonl" in r.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "image": [], "source": "s", "problem": "q"}\n')
    r = runner.invoke(cli, ["train", "quickstart", f"data.train={bad}"])
    assert r.exit_code == 2 and "bad.jsonl" in r.output and "solution" in r.output
    assert "medix-r1 data validate" in r.output


def test_hub_only_presets_offline_say_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    r = runner.invoke(cli, ["train", "medix-r1-8b-dapo"])
    assert r.exit_code == 2, r.output
    text = _one_line(r.output)
    assert "is a hub id and the hub is off (HF_HUB_OFFLINE=1)" in text and "medix-r1 quickstart" in text
    assert "Traceback" not in r.output


# -- keys: each host gets its own; error bodies are redacted ------------------------------------------
class _Recorder(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint that records the Authorization header of every request."""

    def log_message(self, *args):  # quiet
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        self.server.seen.append(self.headers.get("authorization"))
        if self.server.mode == "echo401":
            payload = json.dumps({"error": f"bad key, you sent {self.headers.get('authorization')}"}).encode()
            self.send_response(401)
        else:
            text = self.server.reply(body["messages"])
            payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()
            self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Endpoint:
    def __init__(self, reply=None, mode="ok"):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        self.server.seen, self.server.reply, self.server.mode = [], reply, mode
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_candidate_and_judge_keys_come_from_separate_variables(tmp_path, monkeypatch):
    from medix_r1.evaluation import fake_judge_reply

    monkeypatch.setenv("OPENAI_API_KEY", "sk-candidate-key-0000000000000000")
    monkeypatch.setenv("MEDIX_JUDGE_API_KEY", "sk-judge-key-11111111111111111111")
    candidate = "<X_RAY><think>Looking.</think><answer>Chest</answer>"
    with _Endpoint(lambda m: candidate) as cand, _Endpoint(fake_judge_reply) as judge:
        r = runner.invoke(
            cli,
            [
                "eval",
                "run",
                "--model",
                "org/Keys",
                "--tasks",
                "mini",
                "--limit",
                "1",
                "--out",
                str(tmp_path / "r"),
                "--base-url",
                cand.url,
                "--judge-url",
                judge.url,
                "--judge-model",
                "j",
                "--no-report",
            ],
        )
        assert r.exit_code == 0, r.output
        assert cand.server.seen and set(cand.server.seen) == {"Bearer sk-candidate-key-0000000000000000"}
        assert judge.server.seen and set(judge.server.seen) == {"Bearer sk-judge-key-11111111111111111111"}
    # the submission keeps neither URL
    r = runner.invoke(cli, ["eval", "submit", str(tmp_path / "r" / "Keys")])
    assert r.exit_code == 0, r.output


def test_one_key_for_two_hosts_is_warned_about(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-shared-22222222222222222222")
    r = runner.invoke(
        cli,
        [
            "eval",
            "run",
            "--model",
            "m",
            "--tasks",
            "mini",
            "--limit",
            "1",
            "--out",
            str(tmp_path / "r"),
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--judge-url",
            "http://127.0.0.2:9/v1",
            "--judge-model",
            "j",
            "--judge-api-key-env",
            "OPENAI_API_KEY",
            "--max-retries",
            "0",
        ],
    )
    assert (
        "warning: $OPENAI_API_KEY goes to both the candidate (127.0.0.1:9) and the judge (127.0.0.2:9)"
        in (_one_line(r.output))
    )


def test_a_server_error_body_that_echoes_the_key_is_redacted(monkeypatch):
    import asyncio

    from medix_r1.judges.errors import JudgeConfigError
    from medix_r1.judges.openai import OpenAIChatClient

    key = "sk-proj-abcdefghijklmnopqrstuvwxyz012345"
    monkeypatch.setenv("MEDIX_TEST_KEY", key)
    with _Endpoint(mode="echo401") as server:
        client = OpenAIChatClient(server.url, "m", api_key_env="MEDIX_TEST_KEY", max_retries=0)

        async def call():
            try:
                return await client.complete([{"role": "user", "content": "hi"}], max_new_tokens=8)
            finally:
                await client.aclose()

        with pytest.raises(JudgeConfigError) as err:
            asyncio.run(call())
        assert server.server.seen == [f"Bearer {key}"]  # the key was sent, and echoed back
    message = str(err.value)
    assert key not in message and key[8:30] not in message
    assert "HTTP 401" in message and "bad key, you sent Bearer [redacted]" in message


# -- help at 80 columns -----------------------------------------------------------------------------
def _commands(t, prefix=()):
    for info in t.registered_commands:
        yield [*prefix, info.name or info.callback.__name__.replace("_", "-")]
    for group in t.registered_groups:
        yield [*prefix, group.name]
        yield from _commands(group.typer_instance, (*prefix, group.name))


def test_every_help_page_fits_80_columns_without_cutting_a_word():
    pages = [[]] + list(_commands(cli))
    assert len(pages) > 25
    for args in pages:
        r = runner.invoke(cli, [*args, "--help"], terminal_width=80, env={"COLUMNS": "80"})
        assert r.exit_code == 0, (args, r.output)
        assert "…" not in r.output, (args, r.output)
        too_long = [line for line in r.output.splitlines() if len(line) > 80]
        assert not too_long, (args, too_long)
    # help text is not read as markup: the install hint keeps its extra
    r = runner.invoke(cli, ["train", "--help"], terminal_width=80)
    assert "Usage: medix-r1 train" in r.output


def test_chat_with_a_missing_run_folder_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(cli, ["chat", "--model", "runs/quickstart/final", "Which modality?"])
    assert r.exit_code == 2 and "--model runs/quickstart/final: no such folder" in _one_line(r.output)


def test_eval_run_with_a_torn_first_line_is_a_message_naming_the_file_and_line(tmp_path):
    args = [
        "eval",
        "run",
        "--model",
        "org/Torn",
        "--backend",
        "fake",
        "--judge-backend",
        "fake",
        "--tasks",
        "mini",
        "--limit",
        "1",
        "--out",
        str(tmp_path / "r"),
        "--no-report",
    ]
    assert runner.invoke(cli, args).exit_code == 0
    gen = tmp_path / "r" / "Torn" / "Torn.jsonl"
    lines = gen.read_text().splitlines(keepends=True)
    gen.write_text('{"id": "mini_x_ray_0", "tor' + "\n" + "".join(lines[1:]))
    before = gen.read_bytes()
    r = runner.invoke(cli, args)
    assert r.exit_code == 2, r.output
    assert f"{gen}, line 1: unreadable row" in _one_line(r.output) and "Traceback" not in r.output
    assert gen.read_bytes() == before  # nothing rewritten


def test_the_models_command_that_explain_points_to_exists():
    r = runner.invoke(cli, ["models"])
    assert r.exit_code == 0
    names = [line.split()[0] for line in r.output.splitlines()[:-1]]
    assert names[:3] == ["tiny-qwen2-vl", "tiny-qwen2-vl-samples", "tiny-qwen2.5-vl"] and "demo-vlm" in names
    assert "qwen3-vl-8b        needs the hub" in r.output
    explain = runner.invoke(cli, ["train", "quickstart", "--explain"])
    assert "see `medix-r1 models`" in explain.output


def test_data_convert_of_an_empty_file_leaves_the_old_output_alone(tmp_path):
    (tmp_path / "rows.jsonl").write_text("")
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "kept"}\n')
    r = runner.invoke(cli, ["data", "convert", "vqa-rad", str(tmp_path / "rows.jsonl"), str(out)])
    assert (
        r.exit_code == 1
        and "holds no rows to convert" in _one_line(r.output)
        and "was not written" in r.output
    )
    assert out.read_text() == '{"id": "kept"}\n'
    (tmp_path / "empty").mkdir()
    (tmp_path / "dcm_out").mkdir()
    (tmp_path / "dcm_out" / "records.jsonl").write_text("old\n")
    r = runner.invoke(cli, ["data", "from-dicom", str(tmp_path / "empty"), str(tmp_path / "dcm_out")])
    assert r.exit_code in (1, 2) and "records.jsonl" in r.output
    assert (tmp_path / "dcm_out" / "records.jsonl").read_text() == "old\n"
