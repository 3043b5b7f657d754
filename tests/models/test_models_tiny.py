"""Tiny Qwen2-VL / Qwen2.5-VL / Qwen3-VL: build, save, reload by path, answer about an image."""

from __future__ import annotations

import pytest
import torch

from medix_r1.models import TINY_ARCHS, build_tiny_vlm, generate_reply, load_policy, save_policy
from medix_r1.models.tiny import normalize_arch

QUESTION = "What does this scan show?"


@pytest.mark.parametrize(
    ("arch", "model_class", "processor_class", "n_params"),
    [
        ("qwen2-vl", "Qwen2VLForConditionalGeneration", "Qwen2VLImageOnlyProcessor", 6_590_848),
        ("qwen2.5-vl", "Qwen2_5_VLForConditionalGeneration", "Qwen2_5_VLImageOnlyProcessor", 6_607_168),
        ("qwen3-vl", "Qwen3VLForConditionalGeneration", "Qwen3VLImageOnlyProcessor", 6_700_608),
    ],
)
def test_build_save_reload_answer(arch, model_class, processor_class, n_params, cache_dir, image, tmp_path):
    model, processor = build_tiny_vlm(arch, seed=0, cache_dir=cache_dir)
    assert type(model).__name__ == model_class
    assert type(processor).__name__ == processor_class
    assert sum(p.numel() for p in model.parameters()) == n_params

    before = generate_reply(model, processor, QUESTION, image, max_new_tokens=6)
    assert isinstance(before, str) and before  # a random model still says some words

    save_policy(model, processor, tmp_path / arch)
    reloaded, reprocessor = load_policy(tmp_path / arch, device="cpu")
    assert type(reloaded).__name__ == model_class
    assert type(reprocessor).__name__ == processor_class
    # TRL rebuilds the reference model from this path when beta > 0.
    assert reloaded.config._name_or_path == str(tmp_path / arch)
    assert reloaded.dtype == torch.float32
    assert generate_reply(reloaded, reprocessor, QUESTION, image, max_new_tokens=6) == before
    # Text-only turns work on a VLM too.
    assert isinstance(generate_reply(reloaded, reprocessor, QUESTION, max_new_tokens=4), str)


def test_seed_decides_the_weights(cache_dir):
    a, _ = build_tiny_vlm("qwen2-vl", seed=1, cache_dir=cache_dir)
    rng_before = torch.random.get_rng_state()
    b, _ = build_tiny_vlm("qwen2-vl", seed=1, cache_dir=cache_dir)
    c, _ = build_tiny_vlm("qwen2-vl", seed=2, cache_dir=cache_dir)
    assert torch.equal(torch.random.get_rng_state(), rng_before)  # the caller's RNG is untouched
    a_weights, b_weights, c_weights = (m.state_dict() for m in (a, b, c))
    assert all(torch.equal(a_weights[k], b_weights[k]) for k in a_weights)
    assert not torch.equal(a_weights["lm_head.weight"], c_weights["lm_head.weight"])


def test_builtin_name_is_cached_by_path(cache_dir, image):
    model, processor = load_policy("tiny-qwen3-vl", cache_dir=cache_dir, device="cpu")
    assert model.config._name_or_path == str(cache_dir / "models" / "tiny-qwen3-vl-seed0")
    fresh, fresh_processor = build_tiny_vlm("qwen3-vl", seed=0, cache_dir=cache_dir)
    assert generate_reply(model, processor, QUESTION, image, max_new_tokens=5) == generate_reply(
        fresh, fresh_processor, QUESTION, image, max_new_tokens=5
    )


def test_sampling_is_reproducible_with_a_seed(cache_dir, image):
    model, processor = build_tiny_vlm("qwen2-vl", cache_dir=cache_dir)
    kwargs = {"max_new_tokens": 6, "do_sample": True, "temperature": 1.0, "seed": 7}
    assert generate_reply(model, processor, QUESTION, image, **kwargs) == generate_reply(
        model, processor, QUESTION, image, **kwargs
    )


def test_dtype_and_image_path(cache_dir, image, tmp_path):
    model, processor = load_policy("tiny-qwen2-vl", cache_dir=cache_dir, dtype="bf16", device="cpu")
    assert model.dtype == torch.bfloat16
    image.save(tmp_path / "card.png")
    assert isinstance(
        generate_reply(model, processor, QUESTION, tmp_path / "card.png", max_new_tokens=3), str
    )
    with pytest.raises(FileNotFoundError, match="image file not found"):
        generate_reply(model, processor, QUESTION, tmp_path / "missing.png")
    with pytest.raises(ValueError, match="unknown dtype 'float8'"):
        load_policy("tiny-qwen2-vl", cache_dir=cache_dir, dtype="float8")


@pytest.mark.parametrize(
    ("given", "expected"), [("qwen2-vl", "qwen2-vl"), ("Qwen2_VL", "qwen2-vl"), ("qwen2_5_vl", "qwen2.5-vl")]
)
def test_arch_names(given, expected):
    assert normalize_arch(given) == expected


def test_unknown_arch():
    with pytest.raises(ValueError, match=r"unknown tiny VLM arch 'qwen3vl'; did you mean 'qwen3-vl'\?"):
        normalize_arch("qwen3vl")
    assert list(TINY_ARCHS) == ["qwen2-vl", "qwen2.5-vl", "qwen3-vl"]


def test_unreachable_hub_id_fails_clearly(cache_dir):
    # The tests run with HF_HUB_OFFLINE=1, so this fails at once instead of waiting for a network.
    with pytest.raises(OSError, match="cannot load model 'nobody/no-such-model'.*no hub is reachable"):
        load_policy("nobody/no-such-model", cache_dir=cache_dir)


def test_tag_tokens_are_single_and_survive_decoding(cache_dir, tmp_path):
    from medix_r1.modality import MODALITY_TAGS
    from medix_r1.models.tokenizer import add_tag_tokens, reply_tags

    model, processor = build_tiny_vlm("qwen2-vl", seed=0, cache_dir=cache_dir)
    tok = processor.tokenizer
    rows = model.get_input_embeddings().weight.shape[0]
    assert add_tag_tokens(model, processor) == reply_tags()
    assert reply_tags()[: len(MODALITY_TAGS)] == list(MODALITY_TAGS) and len(reply_tags()) == 22
    assert model.get_input_embeddings().weight.shape[0] == rows + 22 == len(tok)
    assert model.get_output_embeddings().weight.shape[0] == len(tok)
    ids = tok("<CT_SCAN><thinking>x</thinking>", add_special_tokens=False)["input_ids"]
    assert ids[0] == tok.convert_tokens_to_ids("<CT_SCAN>")
    assert ids[1] == tok.convert_tokens_to_ids("<thinking>") and ids[-1] == tok.convert_tokens_to_ids(
        "</thinking>"
    )
    # TRL decodes completions with skip_special_tokens=True: the tag must stay.
    assert tok.batch_decode([ids], skip_special_tokens=True)[0].startswith("<CT_SCAN><thinking>")
    assert add_tag_tokens(model, processor) == []  # idempotent
    save_policy(model, processor, tmp_path / "m")
    again, again_processor = load_policy(str(tmp_path / "m"), device="cpu")
    assert len(again_processor.tokenizer) == len(tok)
    assert again.get_input_embeddings().weight.shape[0] == len(tok)


def test_the_samples_vocabulary_model_is_small_and_spells_the_samples_as_before(
    cache_dir, vl_tokenizer, image
):
    from medix_r1.models.tiny import samples_vocabulary_texts

    model, processor = load_policy("tiny-qwen2-vl-samples", cache_dir=cache_dir)
    tok = processor.tokenizer
    assert len(tok) < 1500 and model.get_output_embeddings().weight.shape[0] == len(tok)
    assert sum(p.numel() for p in model.parameters()) < 1_000_000  # the full-vocabulary one: 6.6 M
    for text in samples_vocabulary_texts()[:200]:
        assert tok.tokenize(text) == vl_tokenizer.tokenize(text)
    assert isinstance(generate_reply(model, processor, QUESTION, image, max_new_tokens=4), str)


def test_unknown_tiny_vocabulary(cache_dir):
    with pytest.raises(ValueError, match="unknown tiny VLM vocabulary 'sample'; did you mean 'samples'"):
        build_tiny_vlm("qwen2-vl", vocabulary="sample", cache_dir=cache_dir)


def test_tag_token_rows_repeat_with_the_seed_and_leave_the_generator_alone(cache_dir):
    import torch

    from medix_r1.models.tokenizer import add_tag_tokens

    def tag_rows(seed):
        model, processor = build_tiny_vlm("qwen2-vl", seed=0, cache_dir=cache_dir)
        old = model.get_input_embeddings().weight.shape[0]
        add_tag_tokens(model, processor, seed=seed)
        return model.get_input_embeddings().weight[old:].detach().clone()

    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    first = tag_rows(0)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's draws are not shifted
    torch.manual_seed(7)  # another generator state: the rows do not depend on it
    assert torch.equal(tag_rows(0), first)
    assert not torch.equal(tag_rows(1), first)
