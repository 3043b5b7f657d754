"""One configuration object for the composite reward, shared by the CLI, training and the engine
adapters (TRL, verl, EasyR1), and the function that builds the reward from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from medix_r1.errors import did_you_mean
from medix_r1.rewards.composite import COMPONENT_NAMES, CompositeReward

__all__ = ["RewardConfig", "build_reward_from_config", "load_reward_config", "no_thinking_body"]


def no_thinking_body(model: str, url: str | None) -> dict[str, Any] | None:
    """The request field that turns a judge's thinking off through its chat template (vLLM, SGLang:
    Qwen3 judges, the published setting), or None for OpenAI's own API, which refuses unknown fields.

    One rule for the reward judge (``RewardConfig.judge_disable_thinking``) and the evaluation judge
    (``EvalConfig.judge_thinking``, :func:`medix_r1.evaluation.launch.build_judge`).

    >>> no_thinking_body("Qwen/Qwen3-4B-Instruct-2507", "http://localhost:8085/v1")
    {'chat_template_kwargs': {'enable_thinking': False}}
    >>> no_thinking_body("gpt-4o-mini", None) is None
    True
    """
    if model.startswith(("gpt", "o1", "o3", "o4")) or (url or "").startswith("https://api.openai.com"):
        return None
    return {"chat_template_kwargs": {"enable_thinking": False}}


class RewardConfig(BaseModel):
    """Which reward, which judge, which embedder. Defaults follow the published reward."""

    model_config = ConfigDict(extra="forbid")

    preset: str = Field("medix-r1", description="Reward preset: medix-r1, medix-r1-think, medix-r1-soft, ...")
    judge: Literal["openai", "transformers", "fake"] = Field(
        "openai",
        description="Judge backend: an OpenAI-compatible server, an in-process model, or the fake test judge",
    )
    judge_url: str | None = Field(
        None, description="Base URL of the OpenAI-compatible judge, e.g. http://localhost:8085/v1"
    )
    judge_model: str = Field(
        "Qwen/Qwen3-4B-Instruct-2507",
        description="Judge model name (served name, or path for the transformers backend)",
    )
    judge_api_key_env: str = Field(
        "OPENAI_API_KEY", description="Environment variable holding the judge's API key"
    )
    judge_concurrency: int = Field(64, ge=1, description="Judge requests in flight at most")
    judge_timeout_s: float = Field(60.0, gt=0, description="Seconds before one judge request times out")
    judge_retries: int = Field(
        4, ge=0, description="Retries of a failed judge request (429, 5xx, timeouts, bad bodies)"
    )
    judge_reasks: int = Field(2, ge=0, description="Re-asks when a reply is neither YES nor NO")
    judge_deadline_s: float = Field(
        120.0,
        gt=0,
        description="Seconds one reward batch may wait on the judge in total (all requests, retries and "
        "re-asks); then on_judge_error applies to the rollouts still waiting. 120 s: a healthy judge "
        "answers a batch in seconds, an RL step takes minutes",
    )
    judge_cache: Path | None = Field(
        None, description="SQLite file caching verdicts across runs (off when unset)"
    )
    judge_disable_thinking: bool = Field(
        True,
        description="Send chat_template_kwargs.enable_thinking=false (vLLM; Qwen3 judges) as published; "
        "never to OpenAI's own API (see no_thinking_body)",
    )
    judge_token_limit_param: Literal["max_tokens", "max_completion_tokens"] = Field(
        "max_tokens",
        description="Request field for the reply-length limit: max_tokens (vLLM, SGLang) or "
        "max_completion_tokens (servers that want OpenAI's newer name)",
    )
    embedding_model: str = Field(
        "minilm",
        description="Sentence-transformers model id or path; 'minilm' is the packaged offline MiniLM, "
        "'hashing' the test embedder; published: abhinand/MedEmbed-large-v0.1",
    )
    embedding_device: str = Field("auto", description="cpu, cuda, or auto")
    embedding_batch_size: int = Field(128, ge=1, description="Strings per encoder batch")
    on_judge_error: Literal["raise", "skip"] = Field(
        "raise",
        description="After retries: raise (stop, naming the URL) or skip (leave accuracy_llm unscored; "
        "it then adds nothing to overall, see medix_r1.rewards.composite)",
    )
    weights: dict[str, float] | None = Field(
        None,
        description="Override component weights, e.g. {modality: 0.5}; unlisted components keep the preset's. "
        "Applied once, when the reward is built. A run that sets this does not use the published reward.",
    )

    @model_validator(mode="after")
    def _check(self) -> RewardConfig:
        from medix_r1.rewards.presets import get_preset

        get_preset(self.preset)
        for name, weight in (self.weights or {}).items():
            if name not in COMPONENT_NAMES:
                raise ValueError(
                    f"weights has unknown component {name!r}{did_you_mean(name, COMPONENT_NAMES)} "
                    f"Valid: {', '.join(COMPONENT_NAMES)}"
                )
            if weight < 0:
                raise ValueError(f"weights.{name} is {weight}; weights must be >= 0")
        if self.judge == "openai" and not self.judge_url:
            raise ValueError(
                "judge 'openai' needs judge_url (e.g. http://localhost:8085/v1), or use judge='fake'"
            )
        return self


def load_reward_config(path: str | Path) -> RewardConfig:
    """Read a reward config from YAML or JSON."""
    import yaml

    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of reward settings, got {type(data).__name__}")
    return RewardConfig(**data)


def build_reward_from_config(config: RewardConfig) -> CompositeReward:
    """Judge, embedder and composite for a config. Nothing is loaded until the first batch."""
    from medix_r1.embedders import make_embedder
    from medix_r1.judges import AnswerMatchJudge, VerdictCache, make_chat_backend
    from medix_r1.rewards.presets import build_reward

    if config.judge == "openai":
        extra = (
            no_thinking_body(config.judge_model, config.judge_url) if config.judge_disable_thinking else None
        )
        backend = make_chat_backend(
            "openai",
            base_url=config.judge_url,
            model=config.judge_model,
            api_key_env=config.judge_api_key_env,
            timeout_s=config.judge_timeout_s,
            max_retries=config.judge_retries,
            concurrency=config.judge_concurrency,
            extra_body=extra,
            token_limit_param=config.judge_token_limit_param,
        )
    elif config.judge == "transformers":
        backend = make_chat_backend("transformers", model=config.judge_model)
    else:
        backend = make_chat_backend("fake")
    cache = VerdictCache(config.judge_cache) if config.judge_cache else None
    judge = AnswerMatchJudge(
        backend, reasks=config.judge_reasks, cache=cache, deadline_s=config.judge_deadline_s
    )
    embed_options = (
        {}
        if config.embedding_model == "hashing"
        else {
            "device": config.embedding_device,
            "batch_size": config.embedding_batch_size,
        }
    )
    embedder = make_embedder(config.embedding_model, **embed_options)
    return build_reward(
        config.preset,
        judge=judge,
        embedder=embedder,
        on_judge_error=config.on_judge_error,
        weights=config.weights,
    )
