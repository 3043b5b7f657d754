"""The in-process ``transformers`` judge backend on a tiny random causal LM: requests that arrive
together are generated as one batch, and replies that are no verdict are failures, never 0."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from medix_r1.models import load_vl_tokenizer

    tokenizer = load_vl_tokenizer(tmp_path_factory.mktemp("cache"))
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    return LlamaForCausalLM(config).eval(), tokenizer


def test_batched_generation_and_honest_failures(tiny_lm, monkeypatch) -> None:
    from medix_r1.judges import AnswerMatchJudge, TransformersChatBackend

    model, tokenizer = tiny_lm
    backend = TransformersChatBackend(model, tokenizer, batch_size=8)
    batches: list[int] = []
    original = backend.generate_batch

    def counting(conversations, max_tokens):
        batches.append(len(conversations))
        return original(conversations, max_tokens)

    monkeypatch.setattr(backend, "generate_batch", counting)
    pairs = [(f"answer {i}", "reference") for i in range(5)]
    judge = AnswerMatchJudge(backend, reasks=0)
    verdicts = asyncio.run(judge.amatch(pairs, fail_fast=False))
    assert batches[0] == 5  # the five requests of the batch went to the model together
    # A random model does not say YES or NO: each pair is a counted failure, none is scored 0.
    for verdict in verdicts:
        assert verdict.match is None or isinstance(verdict.match, bool)
    failed = sum(v.match is None for v in verdicts)
    assert judge.stats.failures == failed
    assert judge.stats.unparseable == failed
    assert backend.endpoint.startswith("transformers://")


def test_scripted_replies_are_parsed(tiny_lm, monkeypatch) -> None:
    from medix_r1.judges import AnswerMatchJudge, TransformersChatBackend

    model, tokenizer = tiny_lm
    backend = TransformersChatBackend(model, tokenizer)
    monkeypatch.setattr(
        backend,
        "generate_batch",
        lambda convs, max_tokens: ["YES" if "zebra" in c[0]["content"] else "No." for c in convs],
    )
    verdicts = asyncio.run(AnswerMatchJudge(backend).amatch([("zebra thing", "x y"), ("other", "x y")]))
    assert [v.match for v in verdicts] == [True, False]
