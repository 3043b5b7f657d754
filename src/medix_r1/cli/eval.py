"""``medix-r1 eval``: run the 17-task evaluation with an LLM judge, list tasks, make a submission zip.

A thin layer over :mod:`medix_r1.evaluation` (STYLE.md rule 8). Credentials (API keys, PhysioNet) are
read from environment variables, never from the command line.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer

app = typer.Typer(help="Evaluate a model on the MediX-R1 suite with an LLM judge.", no_args_is_help=True)

#: The judge's key has its own variable: the candidate's OPENAI_API_KEY never goes to the judge host.
JUDGE_KEY_ENV = "MEDIX_JUDGE_API_KEY"


def _check_names(model: str, base_url: str | None, judge_url: str | None) -> None:
    """Refuse an empty model name and URLs that are not http(s) before anything starts."""
    from medix_r1.evaluation.files import model_dirname

    if not model.strip():
        raise _fail("--model is empty: give the candidate's served name (it also names OUT/<model>/)")
    try:
        model_dirname(model)
    except ValueError as exc:
        raise _fail(f"--model {model!r}: {exc}") from None
    for flag, url in (("--base-url", base_url), ("--judge-url", judge_url)):
        if url is not None and not url.startswith(("http://", "https://")):
            raise _fail(f"{flag} {url!r}: expected an http:// or https:// URL, e.g. http://localhost:8000/v1")


def _key_notes(candidate_env: str | None, base_url: str | None, judge_env: str, judge_url: str) -> None:
    """Say where keys go: which variable each host gets, and when one key would reach two hosts."""
    import os
    from urllib.parse import urlsplit

    both = bool(candidate_env) and candidate_env == judge_env and bool(os.environ.get(judge_env))
    if both and base_url and urlsplit(base_url).netloc != urlsplit(judge_url).netloc:
        typer.echo(
            f"warning: ${judge_env} goes to both the candidate ({urlsplit(base_url).netloc}) and the "
            f"judge ({urlsplit(judge_url).netloc}); give the judge its own --judge-api-key-env",
            err=True,
        )
    elif candidate_env and os.environ.get(candidate_env) and not os.environ.get(judge_env):
        typer.echo(
            f"note: the judge's key is read from ${judge_env} (not set), not from ${candidate_env}: "
            f"set it, or pass --judge-api-key-env {candidate_env} if the judge should get that key",
            err=True,
        )


def _offline_hint(message: str) -> str:
    """What to do when a task's data needs the hub and the hub is switched off."""
    import os

    offline = os.environ.get("HF_DATASETS_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1"
    if offline and "hub" in message.lower():
        return (
            ". The hub is off (HF_HUB_OFFLINE=1) and these tasks download their data from it: run where "
            "the hub is reachable, or try offline: --tasks mini (the bundled samples)"
        )
    return ""


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(2)


class _Progress:
    """One status line on stderr at most every two seconds (cheap; no per-sample redraw)."""

    def __init__(self) -> None:
        self.counts = {"generated": 0, "judged": 0}
        self.last = time.monotonic()

    def __call__(self, event: str) -> None:
        self.counts[event] = self.counts.get(event, 0) + 1
        now = time.monotonic()
        if now - self.last >= 2.0:
            self.last = now
            print(
                f"  generated {self.counts['generated']}, judged {self.counts['judged']}",
                file=sys.stderr,
                flush=True,
            )


def _wants_no_think(model: str, url: str | None) -> bool:
    """Disable the judge's thinking through the chat template (vLLM) unless it is OpenAI's API."""
    return not (
        model.startswith(("gpt", "o1", "o3", "o4")) or (url or "").startswith("https://api.openai.com")
    )


@app.command("run")
def run(
    model: str = typer.Option(
        ..., "--model", help="Candidate model name (served name, and the results folder name)."
    ),
    tasks: str = typer.Option(
        "medix17", "--tasks", help="medix17 | llm | vlm | mini[:DIR] | names (comma-separated) | TASKS.yaml"
    ),
    out: Path = typer.Option(Path("results"), "--out", help="Output folder; files go to OUT/<model>/."),
    backend: str = typer.Option(
        "openai", "--backend", help="Candidate backend: openai | transformers | fake."
    ),
    base_url: str | None = typer.Option(
        None, "--base-url", help="Candidate's OpenAI-compatible URL (openai backend)."
    ),
    model_path: str | None = typer.Option(
        None, "--model-path", help="Local model folder (transformers backend)."
    ),
    api_key_env: str = typer.Option(
        "OPENAI_API_KEY",
        "--api-key-env",
        help="Environment variable with the candidate endpoint's key (sent to --base-url only).",
    ),
    serve: bool = typer.Option(
        False, "--serve", help="Start `vllm serve --model` for the candidate (GPU extra)."
    ),
    tensor_parallel_size: int = typer.Option(
        1, "--tensor-parallel-size", min=1, help="vLLM tensor parallelism with --serve."
    ),
    judge_url: str | None = typer.Option(None, "--judge-url", help="Judge's OpenAI-compatible URL."),
    judge_model: str = typer.Option(
        "Qwen/Qwen3-14B", "--judge-model", help="Judge model (published: Qwen/Qwen3-14B)."
    ),
    judge_backend: str = typer.Option(
        "openai", "--judge-backend", help="openai | fake (a deterministic stand-in, offline demos only)."
    ),
    judge_api_key_env: str = typer.Option(
        JUDGE_KEY_ENV,
        "--judge-api-key-env",
        help="Environment variable with the judge endpoint's key (sent to --judge-url only; a separate "
        "variable from the candidate's so one key never reaches both hosts).",
    ),
    judge_rounds: int = typer.Option(
        3, "--judge-rounds", min=1, help="Judge rounds per sample in one conversation (published: 3)."
    ),
    judge_reasks: int = typer.Option(
        2, "--judge-reasks", min=0, help="Re-asks after unreadable judge replies before judge_failed."
    ),
    judge_thinking: bool = typer.Option(
        False, "--judge-thinking/--no-judge-thinking", help="Let the judge think (published: off)."
    ),
    phases: str = typer.Option(
        "generate,judge,score", "--phases", help="Comma-separated: generate, judge, score."
    ),
    concurrency: int = typer.Option(
        64, "--concurrency", min=1, help="Samples in flight (each endpoint gets this many connections)."
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N samples of each task."),
    system_prompt: str | None = typer.Option(
        None, "--system-prompt", help="System prompt (published: none)."
    ),
    prompt: str = typer.Option(
        "plain",
        "--prompt",
        help="plain: the question exactly as the published protocol sends it; medix: the MediX training "
        "instruction, the image, then the question (a training run's own template for --model-path).",
    ),
    think_tag: str | None = typer.Option(
        None,
        "--think-tag",
        help="With --prompt medix: the reasoning tag the model was trained with (thinking or think; "
        "default: the training run's, else thinking).",
    ),
    max_tokens: int = typer.Option(
        2048, "--max-tokens", min=1, help="Candidate's max new tokens (published: 2048)."
    ),
    timeout_s: float = typer.Option(
        180.0, "--timeout", min=0.001, help="Seconds per request before a retry."
    ),
    max_retries: int = typer.Option(
        4, "--max-retries", min=0, help="Retries per request on 429 / 5xx / timeouts."
    ),
    token_limit_param: str = typer.Option(
        "max_tokens",
        "--token-limit-param",
        help="Request field for the reply-length limit: max_tokens (vLLM, SGLang) or max_completion_tokens "
        "(servers that want OpenAI's newer name).",
    ),
    redo_changed: bool = typer.Option(
        False, "--redo-changed", help="Drop and redo rows whose data, prompt or settings changed."
    ),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Judge judge_failed samples again."),
    no_report: bool = typer.Option(False, "--no-report", help="Skip report.md / report.html / plot."),
    yes_no_choices: bool = typer.Option(
        False,
        "--yes-no-choices",
        help="Show a task's unquoted yes / no options as the words (changes PubMedQA scores; published: "
        "True / False, as YAML reads them).",
    ),
    strict_verdicts: bool = typer.Option(
        False,
        "--strict-verdicts",
        help="Accept only the judge scores the prompt offers (0/1, whole 0-5); others are re-asked "
        "(can change scores; published: any number, half points included).",
    ),
    force_think: bool = typer.Option(
        False, "--force-think", help="Append ' <think>' to the question (the published FORCE_THINK=1)."
    ),
) -> None:
    """Generate, judge and score (any subset of the phases; re-running resumes)."""
    from medix_r1.evaluation import (
        EvalRunError,
        FakeGenerator,
        JudgeProtocol,
        OpenAIGenerator,
        StaleResultsError,
        TaskConfigError,
        TransformersGenerator,
        fake_judge_reply,
        resolve_tasks,
        run_eval,
    )
    from medix_r1.evaluation.runner import PHASES

    _check_names(model, base_url, judge_url)
    chosen = tuple(p.strip() for p in phases.split(",") if p.strip())
    bad = [p for p in chosen if p not in PHASES]
    if bad or not chosen:
        raise _fail(f"--phases {phases!r}: choose from {', '.join(PHASES)}")
    from medix_r1.judges.openai import TOKEN_LIMIT_PARAMS
    from medix_r1.training.prompts import MedixInstruction

    if prompt not in ("plain", "medix"):
        raise _fail(f"--prompt {prompt!r}: choose plain or medix")
    if think_tag not in (None, "thinking", "think"):
        raise _fail(f"--think-tag {think_tag!r}: choose thinking or think")
    if force_think and backend != "openai":
        raise _fail("--force-think applies to the openai backend (the published harness's only one)")
    if token_limit_param not in TOKEN_LIMIT_PARAMS:
        raise _fail(f"--token-limit-param {token_limit_param!r}: choose {' or '.join(TOKEN_LIMIT_PARAMS)}")
    # A local checkpoint of a training run is asked with that run's instruction template and tags.
    instruction = (
        MedixInstruction.for_model(model_path if backend == "transformers" else None, think_tag)
        if prompt == "medix"
        else None
    )
    try:
        task_specs = resolve_tasks(tasks)
    except (TaskConfigError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None

    server = None
    clients: dict[str, object] = {}

    def client_for(url: str, served_model: str, key_env: str) -> object:
        from medix_r1.judges.openai import OpenAIChatClient

        if url not in clients:  # one client (and one limit) per endpoint
            clients[url] = OpenAIChatClient(
                url,
                served_model,
                api_key_env=key_env,
                timeout_s=timeout_s,
                max_retries=max_retries,
                concurrency=concurrency,
                token_limit_param=token_limit_param,
            )
        return clients[url]

    generator = None
    if "generate" in chosen:
        if backend == "openai":
            if serve:
                from medix_r1.evaluation.vllm import VLLMServer

                try:
                    server = VLLMServer(
                        model,
                        tensor_parallel_size=tensor_parallel_size,
                        log_path=out / "logs" / "vllm_candidate.log",
                    ).start()
                except (ImportError, RuntimeError, TimeoutError) as exc:
                    raise _fail(str(exc)) from None
                base_url = server.base_url
            if not base_url:
                raise _fail(
                    "the openai backend needs --base-url (or --serve to start vLLM, or --backend fake / transformers)"
                )
            generator = OpenAIGenerator(
                client_for(base_url, model, api_key_env),
                model=model,
                system_prompt=system_prompt,
                max_tokens=max_tokens,
                instruction=instruction,
                force_think=force_think,
            )
        elif backend == "transformers":
            if not model_path:
                raise _fail("--backend transformers needs --model-path")
            generator = TransformersGenerator(
                model_path, system_prompt=system_prompt, max_tokens=max_tokens, instruction=instruction
            )
        elif backend == "fake":
            generator = FakeGenerator()
        else:
            raise _fail(f"--backend {backend!r}: choose openai, transformers or fake")

    judge = None
    if "judge" in chosen:
        if judge_backend == "fake":
            from medix_r1.judges.fake import FakeChatBackend

            judge = JudgeProtocol(
                FakeChatBackend(fake_judge_reply),
                model="fake-judge",
                rounds=judge_rounds,
                max_reasks=judge_reasks,
            )
        elif judge_backend == "openai":
            # Published judge settings: thinking off (Qwen3's chat template switch, sent by vLLM).
            no_think = (
                {"chat_template_kwargs": {"enable_thinking": False}}
                if not judge_thinking and _wants_no_think(judge_model, judge_url)
                else None
            )
            if not judge_url:
                raise _fail(
                    "the judge phase needs --judge-url (an OpenAI-compatible endpoint) and --judge-model"
                )
            _key_notes(
                api_key_env if generator is not None and backend == "openai" else None,
                base_url,
                judge_api_key_env,
                judge_url,
            )
            judge = JudgeProtocol(
                client_for(judge_url, judge_model, judge_api_key_env),
                model=judge_model,
                rounds=judge_rounds,
                max_reasks=judge_reasks,
                extra_body=no_think,
                strict_verdicts=strict_verdicts,
            )
        else:
            raise _fail(f"--judge-backend {judge_backend!r}: choose openai or fake")

    info = {
        "backend": backend,
        "base_url": base_url,
        "model_path": model_path,
        "judge_backend": judge_backend,
        "judge_url": judge_url,
        "judge_model": judge_model if judge is not None else None,
        "concurrency": concurrency,
        "generation": generator.settings() if generator is not None else None,
        "judge": judge.settings() if judge is not None else None,
    }
    try:
        result = run_eval(
            model,
            task_specs,
            out,
            phases=chosen,
            generator=generator,
            judge=judge,
            concurrency=concurrency,
            limit=limit,
            redo_changed=redo_changed,
            retry_failed=retry_failed,
            reports=not no_report,
            progress=_Progress(),
            run_info=info,
            yes_no_choices=yes_no_choices,
        )
    except (EvalRunError, StaleResultsError, TaskConfigError, ValueError, OSError) as exc:
        raise _fail(str(exc) + _offline_hint(str(exc))) from None
    finally:
        if server is not None:
            server.stop()
    s = result.summary
    if s is not None:
        typer.echo(
            f"{s.samples} samples: generated {s.generated} (had {s.already_generated}), judged {s.judged} "
            f"(had {s.already_judged}), judge_failed {s.judge_failed}"
            + (f", {s.missing_generation} without a reply" if s.missing_generation else "")
            + (f", repaired {s.torn_lines_repaired} torn line(s)" if s.torn_lines_repaired else "")
            + (
                f", removed {s.duplicate_rows} duplicate row(s) (first of each id kept)"
                if s.duplicate_rows
                else ""
            )
            + (f"; {s.cpu_ms_per_call:.2f} ms client CPU per call" if s.cpu_ms_per_call else "")
        )
    if result.scores is not None and result.paths is not None:
        typer.echo(result.paths.score_txt.read_text().rstrip())
        if result.scores.missing:
            typer.echo(f"tasks without judgements: {', '.join(result.scores.missing)}")
        typer.echo(f"results in {result.paths.dir}")


@app.command("tasks")
def list_tasks(
    tasks: str = typer.Argument(
        "medix17", help="What to list: medix17, llm, vlm, mini[:DIR], names or a YAML file."
    ),
) -> None:
    """List tasks with their data source and grading."""
    from medix_r1.evaluation import TaskConfigError, resolve_tasks

    try:
        specs = resolve_tasks(tasks)
    except TaskConfigError as exc:
        raise _fail(str(exc)) from None
    for t in specs:
        source = t.path or ",".join(t.data_files or []) if not isinstance(t.data_files, dict) else "local"
        typer.echo(f"{t.name:34s} {t.group:5s} {t.grading:6s} {source}  {t.description}")


@app.command("submit")
def submit(
    run_dir: Path = typer.Argument(..., help="OUT/<model> (or OUT holding one model folder)."),
    out_dir: Path | None = typer.Option(
        None, "--out", help="Folder for the zip (default: submissions/ beside the output folder)."
    ),
    include_urls: bool = typer.Option(
        False, "--include-urls", help="Keep the candidate/judge URLs and local paths in run.json."
    ),
) -> None:
    """Zip a run folder as <id>_<model>_submission.zip (published naming)."""
    from medix_r1.evaluation import make_submission

    try:
        path = make_submission(run_dir, out_dir, include_urls=include_urls)
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        raise _fail(str(exc)) from None
    if not include_urls:
        typer.echo(
            "(run.json and scores.json went in without internal URLs; --include-urls keeps them)", err=True
        )
    typer.echo(str(path))  # last, alone on its line: scripts read it
