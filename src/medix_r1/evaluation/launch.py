"""From an :class:`~medix_r1.evaluation.config.EvalConfig` to the objects a run needs: the tasks, the
candidate (a generator), the judge, and the HTTP clients behind them (one per endpoint, so one limit
per server). :func:`medix_r1.evaluation.runner.run_configured` uses these; nothing here sends a request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from medix_r1.evaluation.config import EvalConfig, EvalConfigError
from medix_r1.evaluation.judging import JudgeProtocol
from medix_r1.evaluation.tasks import TaskSpec
from medix_r1.rewards.config import no_thinking_body

__all__ = ["Clients", "build_tasks", "build_generator", "build_judge", "candidate_server"]


class Clients:
    """One OpenAI-compatible client per URL, built on first use with the config's limits; the
    candidate and the judge use it in their own role (:meth:`~medix_r1.chat.openai.OpenAIClient.with_role`)."""

    def __init__(self, config: EvalConfig) -> None:
        self.config = config
        self._by_url: dict[str, Any] = {}

    def get(self, url: str, served_model: str, key_env: str) -> Any:
        from medix_r1.chat import CANDIDATE, OpenAIClient

        c = self.config
        if url not in self._by_url:
            self._by_url[url] = OpenAIClient(
                url,
                served_model,
                role=CANDIDATE,
                api_key_env=key_env,
                timeout_s=c.timeout_s,
                max_retries=c.max_retries,
                concurrency=c.concurrency,
                token_limit_param=c.token_limit_param,
            )
        return self._by_url[url]


def build_tasks(config: EvalConfig) -> list[TaskSpec]:
    """The tasks ``config.tasks`` names (an unknown name or a missing file raises a message)."""
    from medix_r1.evaluation.registry import resolve_tasks

    return resolve_tasks(config.tasks)


@contextmanager
def candidate_server(config: EvalConfig) -> Iterator[str | None]:
    """With ``serve``: a vLLM server for the candidate while the block runs (its URL); else ``base_url``."""
    if not (config.serve and config.generates and config.backend == "openai"):
        yield config.base_url
        return
    from medix_r1.evaluation.vllm import VLLMServer

    try:
        server = VLLMServer(
            config.model,
            tensor_parallel_size=config.tensor_parallel_size,
            log_path=config.out / "logs" / "vllm_candidate.log",
        ).start()
    except (ImportError, RuntimeError, TimeoutError) as exc:
        raise EvalConfigError(str(exc)) from None
    try:
        yield server.base_url
    finally:
        server.stop()


def build_generator(config: EvalConfig, clients: Clients, base_url: str | None) -> Any | None:
    """The candidate of the generate phase (``None`` when the run does not generate)."""
    if not config.generates:
        return None
    from medix_r1.evaluation.generation import FakeGenerator, OpenAIGenerator, TransformersGenerator

    instruction = _instruction(config)
    if config.backend == "openai":
        if not base_url:
            raise EvalConfigError(
                "the openai backend needs --base-url (or --serve to start vLLM, or --backend fake / transformers)"
            )
        return OpenAIGenerator(
            clients.get(base_url, config.model, config.api_key_env),
            model=config.model,
            system_prompt=config.system_prompt,
            max_new_tokens=config.max_tokens,
            instruction=instruction,
            force_think=config.force_think,
        )
    if config.backend == "transformers":
        if not config.model_path:
            raise EvalConfigError("--backend transformers needs --model-path")
        return TransformersGenerator(
            config.model_path,
            system_prompt=config.system_prompt,
            max_new_tokens=config.max_tokens,
            instruction=instruction,
        )
    return FakeGenerator()


def _instruction(config: EvalConfig) -> Any | None:
    """``--prompt medix``: the MediX instruction (a training run's own template for a local checkpoint)."""
    if config.prompt != "medix":
        return None
    from medix_r1.models.runs import run_instruction

    local = config.model_path if config.backend == "transformers" else None
    return run_instruction(local, config.think_tag)


def build_judge(config: EvalConfig, clients: Clients) -> JudgeProtocol | None:
    """The judge of the judge phase (``None`` when the run does not judge)."""
    if not config.judges:
        return None
    if config.judge_backend == "fake":
        from medix_r1.chat import JUDGE, make_chat_client
        from medix_r1.evaluation.judging import fake_judge_reply

        return JudgeProtocol(
            make_chat_client("fake", role=JUDGE, responder=fake_judge_reply),
            model="fake-judge",
            rounds=config.judge_rounds,
            max_reasks=config.judge_reasks,
        )
    if not config.judge_url:
        raise EvalConfigError(
            "the judge phase needs --judge-url (an OpenAI-compatible endpoint) and --judge-model"
        )
    # Published judge settings: thinking off (Qwen3's chat template switch, sent by vLLM).
    no_think = None if config.judge_thinking else no_thinking_body(config.judge_model, config.judge_url)
    return JudgeProtocol(
        clients.get(config.judge_url, config.judge_model, config.judge_api_key_env),
        model=config.judge_model,
        rounds=config.judge_rounds,
        max_reasks=config.judge_reasks,
        extra_body=no_think,
        strict_verdicts=config.strict_verdicts,
    )


def run_info(config: EvalConfig, base_url: str | None, generator: Any, judge: Any) -> dict[str, Any]:
    """What ``run.json`` records about the backends (beside the model, tasks, phases and limit)."""
    return {
        "backend": config.backend,
        "base_url": base_url,
        "model_path": config.model_path,
        "judge_backend": config.judge_backend,
        "judge_url": config.judge_url,
        "judge_model": config.judge_model if judge is not None else None,
        "concurrency": config.concurrency,
        "generation": generator.settings() if generator is not None else None,
        "judge": judge.settings() if judge is not None else None,
    }
