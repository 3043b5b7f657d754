"""``medix-r1 data ...``: validate, summarise, convert and build MediX record files.

Examples::

    medix-r1 data validate train.jsonl --processor runs/tiny-vlm --max-prompt-tokens 4352
    medix-r1 data stats train.jsonl --chart stats.png
    medix-r1 data contamination train.jsonl --against test.jsonl
    medix-r1 data convert slake rows.jsonl out/records.jsonl --image-root imgs
    medix-r1 data from-dicom scans/ out/
    medix-r1 data build-samples samples/

Exit codes: 0 success, 1 problems found in the data, 2 the input could not be opened at all.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

app = typer.Typer(
    help="Check, summarise, convert and build MediX-R1 data (records of id, image, source, problem, solution).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _fail(message: str, code: int = 2) -> None:
    from rich.markup import escape

    # the message is text, not markup: `[verl]` or a file named `[bold].jsonl` must survive
    _console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", markup=True)
    raise typer.Exit(code)


@app.command()
def validate(
    file: str = typer.Argument(..., help="JSONL, JSON, parquet, a save_to_disk folder or a hub dataset id."),
    processor: Path | None = typer.Option(
        None,
        "--processor",
        help="Local folder with a tokenizer (and image processor) to count prompt tokens.",
    ),
    max_prompt_tokens: int | None = typer.Option(
        None,
        "--max-prompt-tokens",
        min=1,
        help="Flag prompts longer than this once image tokens are counted.",
    ),
    prompt_overhead: int = typer.Option(
        0, "--prompt-overhead", min=0, help="Tokens added per prompt by the instruction template."
    ),
    max_image_pixels: int | None = typer.Option(
        None, "--max-image-pixels", min=1, help="Refuse images with more pixels (default 50,000,000)."
    ),
    split: str | None = typer.Option(None, "--split", help="Split of a dataset folder or hub id."),
    no_images: bool = typer.Option(False, "--no-images", help="Skip opening images (schema checks only)."),
    as_json: bool = typer.Option(False, "--json", help="Print the problems as JSON lines."),
) -> None:
    """Check every record and report every problem with its row and field; exit 1 if any."""
    from medix_r1.data.images import DEFAULT_MAX_IMAGE_PIXELS
    from medix_r1.data.io import DataSourceError
    from medix_r1.data.prompt_length import ProcessorLoadError, load_prompt_counter
    from medix_r1.data.validate import validate_file

    if max_prompt_tokens is not None and processor is None:
        _fail("--max-prompt-tokens needs --processor PATH (a folder with the tokenizer) to count tokens")
    counter = None
    if processor is not None:
        try:
            counter = load_prompt_counter(processor, overhead=prompt_overhead)
        except ProcessorLoadError as exc:
            _fail(str(exc))
    try:
        report = validate_file(
            file,
            split=split,
            check_images=not no_images,
            max_image_pixels=max_image_pixels or DEFAULT_MAX_IMAGE_PIXELS,
            counter=counter,
            max_prompt_tokens=max_prompt_tokens,
        )
    except (DataSourceError, OSError) as exc:
        _fail(str(exc))
    except (ValueError, TypeError, KeyError) as exc:
        # e.g. a corrupt Arrow shard inside a save_to_disk folder: the source as a whole is unreadable.
        _fail(f"{file}: cannot be read ({type(exc).__name__}: {exc})")
    out = _console()
    if as_json:
        for p in report.problems:
            print(
                json.dumps(
                    {"file": file, "row": p.row, "field": p.field, "code": p.code, "message": p.message}
                )
            )
    else:
        for p in report.problems:
            out.print(f"{file}: {p}", markup=False)
        summary = f"{report.records} record(s), {report.images_checked} image(s) checked"
        if report.max_prompt_tokens_seen is not None:
            summary += f", longest prompt {report.max_prompt_tokens_seen} tokens"
        if report.ok:
            out.print(f"OK: {file}: {summary}", markup=False)
        else:
            out.print(
                f"FAILED: {file}: {len(report.problems)} problem(s) in {report.bad_rows} row(s); {summary}",
                markup=False,
            )
    if not report.ok:
        raise typer.Exit(1)


def _load(file: str, split: str | None):
    from medix_r1.data.io import DataSourceError, data_root, load_records
    from medix_r1.data.schema import RecordError

    try:
        return load_records(file, split=split), data_root(file)
    except RecordError as exc:
        _fail(f"{exc} (run 'medix-r1 data validate {file}' to list every problem)", code=1)
    except (DataSourceError, OSError) as exc:
        _fail(str(exc))
    raise AssertionError("unreachable")


@app.command()
def stats(
    file: str = typer.Argument(..., help="A data file or dataset folder."),
    chart: Path | None = typer.Option(None, "--chart", help="Also write a PNG bar chart here."),
    split: str | None = typer.Option(None, "--split", help="Split of a dataset folder or hub id."),
) -> None:
    """Counts per modality tag, source, split, answer length and images per record."""
    from medix_r1.data.stats import ChartPathError, chart_path, dataset_stats, plot_stats, stats_tables

    if chart is not None:  # before reading the data: a bad --chart fails at once
        try:
            chart_path(chart)
        except ChartPathError as exc:
            _fail(str(exc))
    records, _ = _load(file, split)
    summary = dataset_stats(records)
    out = _console()
    out.print(
        f"{file}: {summary.records} records, mean answer {summary.mean_answer_words:.1f} words", markup=False
    )
    for table in stats_tables(summary):
        out.print(table)
    if chart is not None:
        out.print(f"chart written to {plot_stats(summary, chart, title=Path(file).name)}", markup=False)


@app.command()
def contamination(
    train: str = typer.Argument(..., help="The training data file."),
    against: list[str] = typer.Option(
        ..., "--against", help="Evaluation file(s) to compare with (repeatable)."
    ),
    near_bits: int = typer.Option(
        4, "--near-bits", min=0, max=64, help="Difference-hash distance for near-duplicates."
    ),
    no_images: bool = typer.Option(False, "--no-images", help="Compare question text only."),
) -> None:
    """Report evaluation records whose question and image, or image, also occur in training; exit 1 if any."""
    from medix_r1.data.contamination import find_contamination

    train_records, train_root = _load(train, None)
    others = {name: _load(name, None) for name in against}
    report = find_contamination(
        train_records, train_root, others, near_bits=near_bits, check_images=not no_images
    )
    out = _console()
    for m in report.matches:
        extra = f" (hash distance {m.distance})" if m.kind == "image-near" else ""
        out.print(
            f"{m.eval_file}: id {m.eval_id!r} overlaps train id {m.train_id!r}: {m.kind}{extra}", markup=False
        )
    for name, count in report.checked.items():
        found = sum(1 for m in report.matches if m.eval_file == name)
        out.print(
            f"{name}: {count} records, {found} overlapping training images, "
            f"{report.question_only[name]} with question text alone in training",
            markup=False,
        )
    if report.contaminated:
        raise typer.Exit(1)


@app.command()
def convert(
    layout: str = typer.Argument(..., help="vqa-rad, slake, path-vqa or pmc-vqa."),
    rows: str = typer.Argument(
        ..., help="Input rows: JSONL, JSON, parquet, a save_to_disk folder or a hub id."
    ),
    output: Path = typer.Argument(
        ..., help="Output file (.jsonl, .json, .parquet) or folder (save_to_disk)."
    ),
    image_root: str | None = typer.Option(
        None, "--image-root", help="Prefix for image paths, relative to OUTPUT."
    ),
    default_modality: str | None = typer.Option(
        None, "--modality", help="Modality for rows without one (e.g. CT)."
    ),
    split: str | None = typer.Option(None, "--split", help="Split to read, and to record in each row."),
    no_choices: bool = typer.Option(
        False, "--no-choices", help="Do not append multiple-choice options (PMC-VQA)."
    ),
) -> None:
    """Convert medical VQA rows into MediX records."""
    from medix_r1.data.converters import convert_rows
    from medix_r1.data.io import DataSourceError, iter_rows, write_records
    from medix_r1.data.schema import RecordError

    try:
        raw = []
        for row in iter_rows(rows, split=split):
            if row.error is not None:
                raise RecordError(row.error[1], file=rows, row=row.label, field=row.error[0])
            raw.append(row.data)
        records = convert_rows(
            raw,
            layout,
            image_root=image_root,
            default_modality=default_modality,
            source=None,
            with_choices=not no_choices,
            split=split,
        )
    except RecordError as exc:
        _fail(str(exc), code=1)
    except (DataSourceError, ValueError, OSError) as exc:
        _fail(str(exc))
    if not records:  # never replace an existing output with nothing
        _fail(f"{rows} holds no rows to convert; {output} was not written", code=1)
    write_records(records, output)
    _console().print(f"{len(records)} records written to {output}", markup=False)


@app.command("from-dicom")
def from_dicom(
    folder: Path = typer.Argument(..., help="Folder searched recursively for DICOM files."),
    out_dir: Path = typer.Argument(..., help="Output folder: images/ and records.jsonl go here."),
    skip_errors: bool = typer.Option(
        False, "--skip-errors", help="Skip undecodable files instead of stopping."
    ),
) -> None:
    """Decode a folder of DICOM files to PNG and write modality / body-part / study questions."""
    from medix_r1.data.converters import from_dicom_folder
    from medix_r1.data.dicom import DicomDecodeError
    from medix_r1.data.io import write_records

    try:
        result = from_dicom_folder(folder, out_dir, on_error="skip" if skip_errors else "raise")
    except (DicomDecodeError, FileNotFoundError) as exc:
        _fail(
            f"{exc} (use --skip-errors to go on without it)"
            if isinstance(exc, DicomDecodeError)
            else str(exc)
        )
    if not result.records:  # never replace an existing records.jsonl with nothing
        skipped = f" ({len(result.skipped)} skipped)" if result.skipped else ""
        _fail(f"{folder} gave no records{skipped}; {out_dir / 'records.jsonl'} was not written", code=1)
    target = write_records(result.records, out_dir / "records.jsonl")
    out = _console()
    for name, reason in result.skipped:
        out.print(f"skipped {name}: {reason}", markup=False)
    out.print(f"{len(result.records)} records written to {target}", markup=False)


@app.command("build-samples")
def build_samples_cmd(
    directory: Path = typer.Argument(
        ..., help="Output folder for train.jsonl, test.jsonl, images/ and manifest."
    ),
    reuse: bool = typer.Option(
        False, "--reuse", help="Keep an existing complete build instead of rebuilding."
    ),
) -> None:
    """Build the small real sample set from medical images shipped in installed packages."""
    from medix_r1.data.samples import build_samples, ensure_samples

    start = time.perf_counter()
    try:
        info = ensure_samples(directory) if reuse else build_samples(directory)
    except (FileNotFoundError, ImportError) as exc:
        _fail(f"{exc}. The sample set needs the data extra: pip install 'medix-r1[data]'")
    seconds = time.perf_counter() - start
    _console().print(
        f"{info.n_train} train + {info.n_test} test records, {info.n_images} images, "
        f"{len(info.modalities)} modality tags ({' '.join(info.modalities)}) in {directory} "
        f"({seconds:.1f} s); sources and licences in {info.manifest_path.name} and SOURCES.md",
        markup=False,
    )
