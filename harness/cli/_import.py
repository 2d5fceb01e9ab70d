"""`harness import`: a run store built from existing completions or another tool's log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness._errors import UserError
from harness.cli._app import app

__all__ = ["import_"]


@app.command("import")
def import_(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="CSV/JSONL/Parquet file or hf:org/name, or a log of Inspect AI (.eval/.json), "
            "garak (report.jsonl), promptfoo (export JSON), HarmBench or JailbreakBench; "
            "several files make one run (e.g. one log per model)"
        ),
    ],
    out: Annotated[Path, typer.Option(help="run directory to create")],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="force a reader: flat, inspect, garak, promptfoo, harmbench, jailbreakbench "
            "(default: recognised from the content)",
        ),
    ] = None,
    label_map: Annotated[
        Path | None,
        typer.Option(help="YAML/JSON {rater or '*': {raw value: label}} for imported scorers"),
    ] = None,
    prompt: Annotated[str | None, typer.Option(help="prompt column (flat tables)")] = None,
    response: Annotated[str | None, typer.Option(help="completion column (flat tables)")] = None,
    id: Annotated[str | None, typer.Option("--id", help="item id column")] = None,
    category: Annotated[str | None, typer.Option(help="category column")] = None,
    harmful: Annotated[str | None, typer.Option(help="harmful flag column")] = None,
    model: Annotated[str | None, typer.Option(help="model column")] = None,
    configuration: Annotated[str | None, typer.Option(help="configuration column")] = None,
    name: Annotated[str | None, typer.Option(help="name for the run (default: file stem)")] = None,
    model_name: Annotated[
        str | None, typer.Option(help="the model, for logs that do not name it (HarmBench)")
    ] = None,
    split: Annotated[str, typer.Option(help="split, for hf: datasets")] = "train",
    subset: Annotated[str | None, typer.Option(help="subset, for hf: datasets")] = None,
    benign: Annotated[bool, typer.Option(help="items not marked harmful are benign")] = False,
    force: Annotated[bool, typer.Option(help="overwrite a run made from other data")] = False,
) -> None:
    """Build a run store from existing completions or another tool's log, to grade and report."""
    from harness.ingest import (
        ImportColumns,
        ImportOptions,
        choose_importer,
        import_file,
        load_label_map,
    )
    from harness.ingest import Source as ImportSource

    given = {
        "prompt": prompt,
        "response": response,
        "id": id,
        "category": category,
        "harmful": harmful,
        "model": model,
        "configuration": configuration,
    }
    named = [k for k, v in given.items() if v is not None]
    for source in sources:
        chosen = choose_importer(ImportSource(source), fmt).name
        if chosen != "flat" and named:
            raise UserError(
                f"--{named[0]} maps a column of a flat table; this file was read as {chosen}",
                file=source,
                field=f"--{named[0]}",
                fix="drop the column options, or pass --format flat for a table",
            )
    columns = ImportColumns(**{k: v for k, v in given.items() if v is not None})
    options = ImportOptions(
        harmful_default=not benign,
        label_map=load_label_map(label_map),
        columns=columns,
        model_name=model_name,
        split=split,
        subset=subset,
    )
    summary = import_file(sources, out, options, file_format=fmt, name=name, force=force)
    for line in summary.lines():
        typer.echo(line)
    for rater, labels in summary.raters.items():
        if labels.get("UNPARSEABLE", 0) == sum(labels.values()):
            typer.echo(
                f"note: no value of {rater} could be mapped onto the labels: say what they "
                "mean with --label-map FILE"
            )
    typer.echo(f"imported {summary.attempts} attempts into {out}")
