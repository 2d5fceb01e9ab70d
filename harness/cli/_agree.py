"""`harness agree`: inter-rater agreement on any label table (CSV, JSONL, JSON or Parquet) or
on a run's graders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from harness._errors import UserError
from harness.cli._app import app, choice

__all__ = ["agree"]


@app.command()
def agree(
    table: Annotated[
        Path, typer.Argument(help="CSV, JSONL, JSON or Parquet file of labels, or a run directory")
    ],
    raters: Annotated[
        str | None,
        typer.Option(help="rater columns, comma-separated (two or more); for a run: its graders"),
    ] = None,
    reference: Annotated[
        str | None, typer.Option(help="reference column each rater is compared with")
    ] = None,
    map_file: Annotated[
        Path | None, typer.Option("--map", help="YAML/JSON {raw_label: label} collapse")
    ] = None,
    collapse: Annotated[
        str, typer.Option(help="none, binary_success or binary_success_broad")
    ] = "none",
    level: Annotated[str, typer.Option(help="nominal, ordinal, interval or ratio")] = "nominal",
    order: Annotated[
        str | None, typer.Option(help="ordinal labels low to high, comma-separated")
    ] = None,
    labels: Annotated[
        str | None, typer.Option(help="the valid raw labels; any other value is undecidable")
    ] = None,
    policy: Annotated[
        str, typer.Option(help="undecidable labels: as_missing, exclude or as_category")
    ] = "as_missing",
    fmt: Annotated[str, typer.Option("--format", help="md or json")] = "md",
    group_by: Annotated[str | None, typer.Option(help="also report per value of COL")] = None,
    bootstrap: Annotated[int, typer.Option(help="bootstrap resamples for alpha's CI")] = 1000,
    seed: Annotated[int, typer.Option(help="bootstrap seed")] = 0,
) -> None:
    """Agreement between rater columns: Krippendorff's alpha, Fleiss' and Cohen's kappa."""
    # the named choices load without the statistics stack (scipy, pandas): mistakes fail fast
    from harness.reporting import read_label_table, run_label_table
    from harness.stats import LEVELS, POLICIES

    chosen_fmt = choice(fmt, ("md", "json"), "--format")
    if not table.is_dir():
        names = _raters(raters or "")
    if map_file is not None and collapse != "none":
        raise UserError("give --map or --collapse, not both", field="--map")
    chosen_level = choice(level, LEVELS, "--level")
    chosen_policy = choice(policy, POLICIES, "--policy")
    if table.is_dir():
        wanted = [c for c in (reference, group_by) if c]
        frame, names = run_label_table(table, _split(raters) if raters else None, wanted)
    else:
        frame = read_label_table(table)

    from harness.reporting import agreement_json, agreement_markdown, load_collapse_map
    from harness.stats import agreement_summary, require_columns

    require_columns(frame, [*names, *[c for c in (reference, group_by) if c]], file=table)
    summary = agreement_summary(
        frame,
        names,
        reference=reference,
        collapse=load_collapse_map(map_file) if map_file is not None else collapse,
        level=chosen_level,
        order=_split(order) if order else None,
        labels=_split(labels) if labels else None,
        policy=chosen_policy,
        n_boot=bootstrap,
        seed=seed,
        group_by=group_by,
    )
    report = agreement_json(summary)
    typer.echo(json.dumps(report, indent=2) if chosen_fmt == "json" else agreement_markdown(report))


def _raters(text: str) -> list[str]:
    names = _split(text)
    if len(names) < 2 or len(set(names)) != len(names):
        raise UserError(
            "agreement needs at least two different raters", field="--raters", fix="--raters a,b"
        )
    return names


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]
