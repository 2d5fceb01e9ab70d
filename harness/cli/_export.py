"""`harness export`: one row per attempt, a label column per grader."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.cli._app import RunArg, app, choice

__all__ = ["export"]


@app.command()
def export(
    run_dir: RunArg,
    fmt: Annotated[str, typer.Option("--format", help="csv, jsonl or parquet")] = "csv",
    out: Annotated[
        Path | None, typer.Option(help="output file (default: RUN/attempts.FORMAT)")
    ] = None,
) -> None:
    """Write one row per attempt, with a label_<grader> column per grader."""
    from harness.reporting import attempt_table, write_table
    from harness.store import RunStore

    chosen = choice(fmt, ("csv", "jsonl", "parquet"), "--format")
    target = out or run_dir / f"attempts.{chosen}"
    with RunStore(run_dir) as store:
        table = attempt_table(store)
    write_table(table, target, chosen)  # type: ignore[arg-type]
    typer.echo(f"wrote {len(table)} rows to {target}")
