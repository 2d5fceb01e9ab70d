"""`harness merge`: the shard runs of one experiment combined into one run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.cli._app import app

__all__ = ["merge"]


@app.command()
def merge(
    runs: Annotated[list[Path], typer.Argument(help="the shard run directories")],
    out: Annotated[Path, typer.Option(help="new run directory for the merged run")],
) -> None:
    """Combine the shard runs of one experiment (harness run --shard i/N) into one run."""
    from harness.annotate import AnnotationMerge
    from harness.store import merge_runs

    counts = merge_runs(runs, out, extra=[AnnotationMerge.plan])
    annotated = ""
    if "annotation_samples" in counts:
        annotated = (
            f", {counts['annotation_samples']} annotation samples "
            f"({counts['annotation_samples_renamed']} renamed after their shard: several shards "
            f"drew a different sample under one name), {counts['annotation_log']} annotation "
            "log entries"
        )
    typer.echo(
        f"merged {len(runs)} runs into {out}: {counts['attempts']} attempts, "
        f"{counts['grades']} grades, {counts['attack_steps']} attack steps{annotated}, "
        f"{counts['duplicates']} duplicate attempts skipped (with their grades and steps)"
    )
