"""The offline tokenizer: SmolLM2's vocabulary, the Qwen-VL vision tokens, the chat template, its cache."""

from __future__ import annotations

import pytest

from medix_r1.models import VISION_TOKENS, build_messages, load_vl_tokenizer, vl_tokenizer_dir
from medix_r1.models.cache import read_manifest
from medix_r1.models.tokenizer import vision_token_ids


def test_vision_tokens_follow_the_vocabulary(vl_tokenizer):
    # SmolLM2 has 49,152 tokens; the four vision tokens come right after, in a fixed order.
    assert len(vl_tokenizer) == 49156
    assert vision_token_ids(vl_tokenizer) == {
        "vision_start_token_id": 49152,
        "vision_end_token_id": 49153,
        "image_token_id": 49154,
        "video_token_id": 49155,
    }
    assert (vl_tokenizer.eos_token, vl_tokenizer.pad_token) == ("<|im_end|>", "<|im_end|>")
    # One id per vision token (never split into pieces), and dropped when decoding for humans.
    ids = vl_tokenizer(
        "<|vision_start|><|image_pad|><|image_pad|><|vision_end|>Hi", add_special_tokens=False
    ).input_ids
    assert ids[:4] == [49152, 49154, 49154, 49153]
    assert vl_tokenizer.decode(ids, skip_special_tokens=True) == "Hi"


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        # Image part first, as Qwen-VL models are trained; no default system message.
        (
            build_messages("Which organ?", image=True),
            "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Which organ?<|im_end|>\n"
            "<|im_start|>assistant\n",
        ),
        # Plain string contents (SmolLM2 style) render the same way as a single text part.
        (
            build_messages("Hi", system="Be brief.", text_only=True),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
        ),
        # Text around an image, and a second image, keep their order.
        (
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Compare "},
                        {"type": "image"},
                        {"type": "text", "text": " and "},
                        {"type": "image", "image": "b.png"},
                    ],
                }
            ],
            "<|im_start|>user\nCompare <|vision_start|><|image_pad|><|vision_end|> and "
            "<|vision_start|><|image_pad|><|vision_end|><|im_end|>\n<|im_start|>assistant\n",
        ),
    ],
)
def test_chat_template(vl_tokenizer, messages, expected):
    assert vl_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == expected


def test_assistant_turn_is_closed(vl_tokenizer):
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Q"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "A"}]},
    ]
    text = vl_tokenizer.apply_chat_template(messages, tokenize=False)
    assert text == "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n"


def test_second_load_uses_the_cache(cache_dir, vl_tokenizer, monkeypatch):
    import medix_r1.models.tokenizer as tokenizer_module

    def no_gguf():
        raise AssertionError("the GGUF was read although the tokenizer is cached")

    monkeypatch.setattr(tokenizer_module, "load_gguf_tokenizer", no_gguf)
    again = load_vl_tokenizer(cache_dir)
    assert again.get_vocab() == vl_tokenizer.get_vocab()
    assert read_manifest(vl_tokenizer_dir(cache_dir))["vision_tokens"] == list(VISION_TOKENS)


def test_a_trimmed_vocabulary_spells_its_texts_as_the_full_one(vl_tokenizer):
    from medix_r1.models.tokenizer import trim_vocabulary

    texts = ["<MRI_SCAN><thinking>I look.</thinking><answer>Greyscale</answer>", "Which organ is examined?"]
    small = trim_vocabulary(vl_tokenizer, texts)
    assert 256 < len(small) < 400  # the 256 byte tokens, the specials, and what the texts need
    for text in texts:
        full_tokens = vl_tokenizer.convert_ids_to_tokens(
            vl_tokenizer(text, add_special_tokens=False).input_ids
        )
        small_tokens = small.convert_ids_to_tokens(small(text, add_special_tokens=False).input_ids)
        assert small_tokens == full_tokens
    # Any other text still encodes (in smaller pieces) and decodes back unchanged.
    other = "Pneumothorax, Wörter, 😀"
    ids = small(other, add_special_tokens=False).input_ids
    assert max(ids) < len(small) and small.decode(ids) == other
    assert len(ids) > len(vl_tokenizer(other, add_special_tokens=False).input_ids)
    # Same special-token roles and chat template; the vision tokens keep one id each.
    assert (small.bos_token, small.eos_token, small.pad_token) == ("<|im_start|>", "<|im_end|>", "<|im_end|>")
    assert small.chat_template == vl_tokenizer.chat_template
    assert len(set(vision_token_ids(small).values())) == 4
    assert small("<|vision_start|><|image_pad|>", add_special_tokens=False).input_ids == [
        vision_token_ids(small)["vision_start_token_id"],
        vision_token_ids(small)["image_token_id"],
    ]


def test_trimming_needs_a_bpe_tokenizer(vl_tokenizer):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    from medix_r1.models.tokenizer import trim_vocabulary

    word_level = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]"))
    )
    with pytest.raises(ValueError, match="needs a BPE tokenizer, not 'WordLevel'"):
        trim_vocabulary(word_level, ["a"])
