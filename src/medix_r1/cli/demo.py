"""``medix-r1 demo``: serve the web demo (Gradio, optional ``demo`` extra) on this machine.

Examples::

    medix-r1 demo                                                # quickstart checkpoint, else demo-vlm
    medix-r1 demo --model runs/quickstart/final --port 7861
    medix-r1 demo --base-url http://localhost:8000/v1 --model-name medix-r1-8b
    medix-r1 demo --gguf medix-r1-2b-Q4_K_M.gguf --mmproj mmproj-medix-r1-2b-f16.gguf
"""

from __future__ import annotations

import typer


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def demo(
    model: str | None = typer.Option(
        None,
        "--model",
        help="Model folder, built-in name or hub id, run in-process. Default: runs/quickstart/final "
        "(the quickstart's checkpoint) when present, else demo-vlm (offline, CPU).",
    ),
    base_url: str | None = typer.Option(
        None,
        "--base-url",
        help="Ask an OpenAI-compatible server instead (e.g. vLLM: http://localhost:8000/v1).",
    ),
    model_name: str | None = typer.Option(
        None, "--model-name", help="Model name the server at --base-url serves (see its /v1/models)."
    ),
    api_key_env: str = typer.Option(
        "OPENAI_API_KEY", "--api-key-env", help="Environment variable holding the server's API key, if any."
    ),
    gguf: str | None = typer.Option(
        None,
        "--gguf",
        help="Run a GGUF file with llama.cpp instead (needs the gguf extra: llama-cpp-python).",
    ),
    mmproj: str | None = typer.Option(
        None,
        "--mmproj",
        help="The vision tower's GGUF (mmproj) for --gguf; without it the model sees no images.",
    ),
    backend: str | None = typer.Option(
        None,
        "--backend",
        help="transformers | openai | gguf | fake (inferred from the options above; fake = no model).",
    ),
    prompt: str = typer.Option(
        "medix",
        "--prompt",
        help="medix: the training instruction before the question; plain: the question alone.",
    ),
    think_tag: str | None = typer.Option(
        None,
        "--think-tag",
        help="Reasoning tag the model was trained with: thinking (released code) or think. Default: the "
        "training run's, for a run's checkpoint; else thinking.",
    ),
    max_new_tokens: int = typer.Option(384, "--max-new-tokens", min=1, help="Longest reply, in tokens."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (loopback by default)."),
    port: int = typer.Option(7860, "--port", min=1, max=65535, help="Port to listen on."),
    share: bool = typer.Option(
        False, "--share", help="Also open a public Gradio share link (sends traffic off this machine)."
    ),
) -> None:
    """Serve the web demo: upload an image (PNG, JPEG, DICOM), ask, read modality, reasoning and answer.

    The page's Ask button is also the `ask` API endpoint. Research prototype, not for clinical use.
    """
    backend = _pick_backend(backend, model, base_url, gguf)
    if prompt not in ("medix", "plain"):
        _fail(f"--prompt {prompt!r}: choose medix or plain")
    if think_tag not in (None, "thinking", "think"):
        _fail(f"--think-tag {think_tag!r}: choose thinking or think")
    from medix_r1.cli.ports import port_problem

    problem = port_problem(host, port)  # before any model loads
    if problem:
        _fail(problem)
    if backend == "transformers":
        from medix_r1.demo.backends import default_model

        model = model or default_model()
    common = {"prompt_builder": _prompt_builder(backend, prompt, model, think_tag)}
    common["max_new_tokens"] = max_new_tokens
    options = _backend_options(backend, model, base_url, model_name, api_key_env, gguf, mmproj, common)
    _launch(backend, options, host=host, port=port, share=share)


def _pick_backend(backend: str | None, model: str | None, base_url: str | None, gguf: str | None) -> str:
    """``--backend``, else the one the other options name (transformers when none does)."""
    if backend is not None:
        return backend
    chosen = [
        name for name, given in (("openai", base_url), ("gguf", gguf), ("transformers", model)) if given
    ]
    if len(chosen) > 1:
        _fail("give only one of --model, --base-url and --gguf")
    return chosen[0] if chosen else "transformers"


def _prompt_builder(backend: str, prompt: str, model: str | None, think_tag: str | None) -> object:
    """How a question is put to the model: plain, or the MediX instruction (a training run's own
    template and tags for a run's checkpoint)."""
    from medix_r1.demo import plain_prompt
    from medix_r1.demo.backends import MedixPrompt

    if prompt == "plain":
        return plain_prompt
    if backend == "transformers":
        from medix_r1.models.runs import run_instruction

        return run_instruction(model, think_tag=think_tag)
    return MedixPrompt(think_tag or "thinking")


def _backend_options(
    backend: str,
    model: str | None,
    base_url: str | None,
    model_name: str | None,
    api_key_env: str,
    gguf: str | None,
    mmproj: str | None,
    common: dict[str, object],
) -> dict[str, object]:
    """The keyword arguments of ``make_answerer`` for the backend (a message when one is missing)."""
    from medix_r1.demo.backends import DEFAULT_MAX_NEW_TOKENS

    common = {**common, "max_new_tokens": common.get("max_new_tokens") or DEFAULT_MAX_NEW_TOKENS}
    if backend == "openai":
        if not base_url or not model_name:
            _fail(
                "the openai backend needs --base-url URL and --model-name NAME (the name the server serves)"
            )
        return {"base_url": base_url, "model_name": model_name, "api_key_env": api_key_env, **common}
    if backend == "gguf":
        if not gguf:
            _fail("the gguf backend needs --gguf FILE (and --mmproj FILE to see images)")
        return {"model_path": gguf, "mmproj": mmproj, **common}
    if backend == "transformers":
        return {"model": model, **common}
    if backend == "fake":
        return {}
    _fail(f"--backend {backend!r}: choose transformers, openai, gguf or fake")
    return {}


def _launch(backend: str, options: dict[str, object], *, host: str, port: int, share: bool) -> None:
    from medix_r1.demo import AnswerError, launch, make_answerer
    from medix_r1.models.extras import MissingExtraError

    try:
        answerer = make_answerer(backend, **options)
        typer.echo(f"model: {answerer.describe()} (loading...)", err=True)
        launch(answerer=answerer, host=host, port=port, share=share)
    except MissingExtraError as exc:
        _fail(str(exc), 1)
    except (AnswerError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc), 1)


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the top-level command."""
    app.command("demo")(demo)
