"""Shared pieces of the review tests: two evaluation runs of the offline mini-suite.

Both candidates answer in the MediX format (modality tag, reasoning, answer block). ``Good-7B``
repeats the reference; ``Weak-2B`` repeats it only on every third item of a task and otherwise
says "No abnormality is seen". The fake judge grades both, so a judge audit of ``Weak-2B`` has
correct and incorrect verdicts to stratify over.
"""

from __future__ import annotations

import os
import shutil
import types
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

LIMIT = 3  # samples per mini-suite task


class ScriptedGenerator:
    """A candidate backend for tests: the MediX reply grammar with a scripted answer."""

    backend_name = "scripted"

    def __init__(self, style: str) -> None:
        self.style = style
        self.identity = f"scripted-{style}"

    def settings(self) -> dict[str, Any]:
        return {"scripted": self.style}

    async def generate(self, sample: Any) -> str:
        tag = "<" + sample.task.removeprefix("mini_").upper() + ">"
        right = self.style == "good" or sample.index % 3 == 0
        answer = sample.answer if right else "No abnormality is seen"
        return f"{tag}<think>Reading the image ({self.style} reader).</think><answer>{answer}.</answer>"


def make_runs(root: Path) -> dict[str, Path]:
    from medix_r1.data import build_samples
    from medix_r1.evaluation import JudgeProtocol, fake_judge_reply, mini_suite, run_eval
    from medix_r1.judges.fake import FakeChatBackend

    build_samples(root / "samples")
    tasks = mini_suite(root / "samples")
    out = {}
    for model, style in (("org/Good-7B", "good"), ("org/Weak-2B", "weak")):
        judge = JudgeProtocol(FakeChatBackend(fake_judge_reply), model="fake-judge")
        result = run_eval(
            model,
            tasks,
            root / "results",
            generator=ScriptedGenerator(style),
            judge=judge,
            limit=LIMIT,
            reports=style == "weak",
        )
        out[style] = result.paths.dir
    return out


@pytest.fixture(scope="session")
def mini_runs(tmp_path_factory) -> dict[str, Path]:
    """Two judged mini-suite runs (built once per session; copy before writing into them)."""
    return make_runs(tmp_path_factory.mktemp("mini_runs"))


@pytest.fixture
def runs(mini_runs, tmp_path) -> dict[str, Path]:
    """A private copy of the two runs (tests that write judge_audit.json do not leak)."""
    out = {}
    for style, d in mini_runs.items():
        target = tmp_path / "results" / d.name
        shutil.copytree(d, target)
        out[style] = target
    return out


@pytest.fixture
def kit():
    return types.SimpleNamespace(LIMIT=LIMIT, ScriptedGenerator=ScriptedGenerator, make_runs=make_runs)


class ServerProcess:
    """``medix-r1 review serve STUDY`` in a child process on a free loopback port."""

    def __init__(self, study: Path, port: int | None = None) -> None:
        import socket
        import subprocess
        import sys

        if port is None:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        self.port = port
        self.url = f"http://127.0.0.1:{port}/"
        code = "import sys; from medix_r1.cli import main; sys.argv[0] = 'medix-r1'; main()"
        args = [sys.executable, "-c", code, "review", "serve", str(study), "--port", str(port)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        import time
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the review server exited: {self.proc.stdout.read().decode()}")
            try:
                with urllib.request.urlopen(self.url + "healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        raise RuntimeError("the review server did not start in time")

    def request(self, method: str, path: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
        import json
        import urllib.error
        import urllib.request

        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                raw = r.read()
                status = r.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw

    def kill(self) -> None:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


@pytest.fixture
def server_kit():
    return types.SimpleNamespace(ServerProcess=ServerProcess)
