"""A managed ``vllm serve`` (optional, GPU extra): start, wait until ready, stop with its children.

The evaluation talks to any OpenAI-compatible URL; this only saves starting the server by hand::

    with VLLMServer("MBZUAI/MediX-R1-8B", port=8005, tensor_parallel_size=2) as server:
        ...  # server.base_url
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

__all__ = ["VLLMServer"]


class VLLMServer:
    def __init__(
        self,
        model: str,
        *,
        port: int = 8005,
        tensor_parallel_size: int = 1,
        max_num_seqs: int = 256,
        gpu_memory_utilization: float = 0.9,
        extra_args: list[str] | None = None,
        log_path: str | Path = "vllm_server.log",
        startup_timeout_s: float = 1800.0,
    ) -> None:
        self.model = model
        self.port = port
        self.args = [
            "serve",
            model,
            "--port",
            str(port),
            "--tensor-parallel-size",
            str(tensor_parallel_size),
            "--max-num-seqs",
            str(max_num_seqs),
            "--gpu-memory-utilization",
            str(gpu_memory_utilization),
            *(extra_args or []),
        ]
        self.log_path = Path(log_path)
        self.startup_timeout_s = startup_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> VLLMServer:
        exe = shutil.which("vllm")
        if exe is None:
            raise ImportError("a managed server needs vLLM (CUDA only): pip install 'medix-r1[gpu]'")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps writing to it
        self._proc = subprocess.Popen([exe, *self.args], stdout=log, stderr=log, start_new_session=True)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        import httpx

        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(
                    f"vllm serve exited with code {self._proc.returncode}; see {self.log_path}"
                )
            try:
                if httpx.get(f"{self.base_url}/models", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(5)
        self.stop()
        raise TimeoutError(
            f"vllm serve was not ready after {self.startup_timeout_s:g} s; see {self.log_path}"
        )

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        pgid = os.getpgid(self._proc.pid)  # our own child's process group (start_new_session)
        os.killpg(pgid, signal.SIGTERM)
        try:
            self._proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self._proc.wait(10)

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
