"""`harness run`: run or resume an experiment, then print its report and grader agreement."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from harness._errors import UserError
from harness.cli._app import (
    EXIT_BUDGET,
    EXIT_INTERRUPTED,
    EXIT_MODEL_CRASHED,
    ConfigArg,
    app,
    stop_on_signals,
)

if TYPE_CHECKING:
    from harness._report_worker import EndOfRunReport
    from harness.runner import RunSummary

__all__ = ["run"]


@app.command()
def run(
    config: ConfigArg,
    force: Annotated[
        bool, typer.Option(help="accept a changed config; re-send what changed")
    ] = False,
    retry_errors: Annotated[bool, typer.Option(help="re-send attempts stored as ERROR")] = False,
    output: Annotated[
        Path | None, typer.Option(help="run directory (default: config output)")
    ] = None,
    progress: Annotated[bool | None, typer.Option(help="progress bar (default: on a TTY)")] = None,
    report: Annotated[bool, typer.Option(help="print the table at the end")] = True,
    shard: Annotated[
        str | None,
        typer.Option(help="run only slice i of N (0 <= i < N), e.g. 0/4; merge with harness merge"),
    ] = None,
) -> None:
    """Run an experiment (resuming whatever a previous run left unfinished)."""
    from harness._report_worker import EndOfRunReport

    # the report's libraries load in another process while the run sends (see _report_worker)
    end = EndOfRunReport(sys.stdout) if report else None
    try:
        run_dir, summary = _run(config, force, retry_errors, output, progress, shard, end)
        _end_of_run(config, run_dir, summary, end)
    finally:
        if end is not None:
            end.cancel()


def _run(
    config: Path,
    force: bool,
    retry_errors: bool,
    output: Path | None,
    progress: bool | None,
    shard: str | None,
    end: EndOfRunReport | None,
) -> tuple[Path, RunSummary]:
    """`harness run` up to its report: the run directory and summary of a run that ended
    normally (budget and interrupt end the command here)."""
    import asyncio

    from harness.config import load_config
    from harness.runner import RunOptions, Shard, run_experiment

    slice_ = Shard.parse(shard) if shard else None
    loaded = load_config(config)
    if end is not None:
        end.prepare()
    options = RunOptions(
        retry_errors=retry_errors, progress=sys.stderr.isatty() if progress is None else progress
    )
    stop = asyncio.Event()

    async def go() -> tuple[RunSummary, Path]:
        with stop_on_signals(stop):
            return await run_experiment(
                loaded, force=force, options=options, stop=stop, output=output, shard=slice_
            )

    summary, run_dir = asyncio.run(go())
    counts = ", ".join(f"{k}={v}" for k, v in sorted(summary.statuses.items())) or "nothing"
    regraded = (
        f"; re-graded {summary.regraded.total()} grades of changed graders"
        if summary.regraded
        else ""
    )
    typer.echo(
        f"{run_dir}: {summary.planned} planned, {summary.already_done} already stored, "
        f"sent {summary.finished} ({counts}) in {summary.elapsed_s:.1f}s{regraded}",
        err=True,
    )
    _print_reach(run_dir)
    if summary.budget_exhausted:
        typer.echo(
            f"budget: {summary.budget_exhausted}; finished attempts are stored; "
            "raise the budget and run again to resume",
            err=True,
        )
        raise SystemExit(EXIT_BUDGET)
    if summary.interrupted:
        typer.echo("interrupted: finished attempts are stored; run again to resume", err=True)
        raise SystemExit(EXIT_INTERRUPTED)
    return run_dir, summary


def _end_of_run(
    config: Path, run_dir: Path, summary: RunSummary, end: EndOfRunReport | None
) -> None:
    """The report (unless --no-report), then the exit a local model's crash calls for."""
    crashed = summary.error_kinds.get("model_crashed", 0)
    if end is not None and not crashed:
        status = end.print(run_dir)
        if status:
            raise SystemExit(status)
    elif end is not None:
        end.cancel()  # rare: said here, in this process, beside the crash
        from harness.reporting import run_end_report

        try:
            typer.echo(run_end_report(run_dir))
        except UserError as exc:
            typer.echo(f"no report: {exc}", err=True)  # the crash is what to say, with exit 4
    if crashed:
        typer.echo(
            f"{crashed} attempts ended as ERROR model_crashed: a local model's process died "
            f"(the reason and the fix are in {run_dir / 'harness.log'}); the store is intact; "
            f"after the fix, resume with: harness run {config} --retry-errors",
            err=True,
        )
        raise SystemExit(EXIT_MODEL_CRASHED)


def _print_reach(run_dir: Path) -> None:
    """The headline: deployments that may not have reached the model (see `reach_warnings`)."""
    from harness.reporting import reach_warnings
    from harness.store import Manifest, RunStore, read_manifest

    with RunStore(run_dir) as store:
        for line in reach_warnings(store, read_manifest(run_dir) or Manifest()):
            typer.echo(f"warning: {line}", err=True)
