"""`harness report`: the report of a run, or several runs side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.cli._app import EXIT_FLAGGED, app

__all__ = ["REPORT_FORMATS", "report"]

REPORT_FORMATS = "md, csv, latex, html, json, or an installed plugin's format"


@app.command()
def report(
    runs: Annotated[list[Path], typer.Argument(help="one run directory, or several to compare")],
    fmt: Annotated[str, typer.Option("--format", help=REPORT_FORMATS)] = "md",
    grader: Annotated[
        str | None, typer.Option(help="grader whose labels count (default: primary)")
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(help="grader taken as truth for judge-error correction (default: human)"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="html: directory for report.html and the figures")
    ] = None,
    min_agreement: Annotated[
        float,
        typer.Option(help="Gwet's AC1 of the graders below which a rate is flagged low_agreement"),
    ] = 0.667,
    strict: Annotated[
        bool,
        typer.Option(
            help=f"exit {EXIT_FLAGGED} if any shown rate is flagged (unreadable, unvalidated, "
            "low_agreement, small_n): for the CI of a paper"
        ),
    ] = False,
) -> None:
    """The report of a run: per-configuration table, matrices, paired tests, warnings."""
    from harness.reporting import analyse_run, render_comparison, reporter_for

    chosen = reporter_for(fmt)
    reports = [
        analyse_run(run, grader=grader, reference=reference, min_agreement=min_agreement)
        for run in runs
    ]
    several = len(reports) > 1
    typer.echo(render_comparison(reports, fmt) if several else chosen.render(reports[0], out))
    flagged = [f"{r.run_name}: {cell}" for r in reports for cell in r.flagged]
    if strict and flagged:
        typer.echo(
            f"strict: {len(flagged)} flagged cell(s), exit {EXIT_FLAGGED}: " + "; ".join(flagged),
            err=True,
        )
        raise SystemExit(EXIT_FLAGGED)
