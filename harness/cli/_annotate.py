"""`harness annotate`: a local page to label attempts by hand, straight into the run store."""

from __future__ import annotations

from typing import Annotated

import typer

from harness._errors import UserError
from harness.cli._app import RunArg, app, stop_on_signals

__all__ = ["annotate"]


@app.command()
def annotate(
    run_dir: RunArg,
    annotator: Annotated[
        str | None, typer.Option(help="your name; your labels are rater human.NAME")
    ] = None,
    sample: Annotated[
        int | None,
        typer.Option(min=1, help="label a sample of N attempts (stored: every annotator gets it)"),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="seed of the sample (default 0)")] = None,
    stratify_by: Annotated[
        str | None,
        typer.Option(help="strata of the sample, e.g. configuration,label (label: primary grader)"),
    ] = None,
    port: Annotated[int, typer.Option(min=0, max=65535, help="port (0: any free one)")] = 8765,
    host: Annotated[
        str | None, typer.Option(help="address to serve on (default 127.0.0.1: this machine only)")
    ] = None,
    adjudicate: Annotated[
        bool, typer.Option(help="label the items annotators disagree on, as rater `adjudicated`")
    ] = False,
    reveal: Annotated[
        bool, typer.Option(help="show configuration, model, deployment and graders' labels")
    ] = False,
) -> None:
    """Serve a local page to label attempts by hand; labels go straight into the run store."""
    import asyncio

    from harness.annotate import (
        AnnotationStore,
        Settings,
        check_annotator,
        choose_sample,
        protocol_html,
        serve,
    )

    if sample is None and (seed is not None or stratify_by):
        raise UserError(
            "--seed and --stratify-by describe a sample", field="--sample", fix="add --sample N"
        )
    if annotator is not None:
        check_annotator(annotator)
    protocol_html()  # a missing protocol fails now, not when the page asks for it
    if host is not None:
        typer.echo(
            f"warning: serving on {host}: anyone who can reach it can read this run's replies "
            "and write labels in it",
            err=True,
        )
    annotations = AnnotationStore(run_dir)
    try:
        strata = [s.strip() for s in (stratify_by or "").split(",") if s.strip()]
        definition, items = choose_sample(
            run_dir, annotations, size=sample, seed=seed or 0, stratify_by=strata
        )
        if not items:
            raise UserError(
                "nothing to label: no attempt of this run has a reply (status OK)",
                file=run_dir,
                fix="annotate a run whose models answered",
            )
        settings = Settings(run_dir, definition, items, annotator, adjudicate, reveal)

        def ready(url: str) -> None:
            # the strata's names stay off the screen: they would tell annotators what is sampled
            typer.echo(
                f"sample {definition.name}: {len(items)} attempts in "
                f"{len(definition.strata)} strata",
                err=True,
            )
            mode = "adjudication" if adjudicate else "labelling"
            typer.echo(f"{mode} page: {url}", err=True)
            typer.echo("every label is saved as it is given; Ctrl-C stops the server", err=True)

        stop = asyncio.Event()

        async def go() -> None:
            with stop_on_signals(stop):
                await serve(
                    settings,
                    annotations,
                    host=host or "127.0.0.1",
                    port=port,
                    ready=ready,
                    stop=stop,
                )

        asyncio.run(go())
        for rater, labelled, skipped in annotations.progress(definition.name, items):
            typer.echo(f"{rater}: {labelled} of {len(items)} labelled, {skipped} skipped", err=True)
    finally:
        annotations.close()
