"""`harness grade`: (re-)grade a stored run; the graded models get no request."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from harness._errors import UserError
from harness.cli._app import EXIT_BUDGET, RunArg, app

__all__ = ["grade"]


@app.command()
def grade(
    run_dir: RunArg,
    grader: Annotated[
        list[str] | None,
        typer.Option(
            help="grader: NAME, or ID=NAME to grade as rater ID (NAME: registry name or "
            "module:attr; options then keyed by ID); default: the run's own graders"
        ),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(help="grader option as GRADER.key=value (value parsed as YAML)"),
    ] = None,
    primary: Annotated[str | None, typer.Option(help="make this grader the primary one")] = None,
    models_from: Annotated[
        Path | None,
        typer.Option(help="a config whose models judges may use (e.g. for an imported run)"),
    ] = None,
) -> None:
    """(Re-)grade a stored run; no request is sent to the graded models (judges are called)."""
    import asyncio

    from harness.config import load_config
    from harness.runner import BudgetExhausted, grade_run, regrade_specs
    from harness.store import Manifest, read_manifest, write_manifest

    manifest = read_manifest(run_dir) or Manifest()
    specs = regrade_specs(run_dir, manifest, grader or [], _options(option or []))
    judges = load_config(models_from).spec.models if models_from else None
    try:
        labels = asyncio.run(grade_run(run_dir, specs, models=judges))
    except BudgetExhausted as exc:
        typer.echo(
            f"budget: {exc}; what was graded is stored; raise the run's budget (its config) "
            "and grade again",
            err=True,
        )
        raise SystemExit(EXIT_BUDGET) from None
    if primary:
        manifest = read_manifest(run_dir) or Manifest()
        manifest.primary_grader = primary
        write_manifest(run_dir, manifest)
    typer.echo(f"graded: {', '.join(f'{k}={v}' for k, v in sorted(labels.items())) or 'nothing'}")


def _options(pairs: list[str]) -> dict[str, dict[str, Any]]:
    """`--option GRADER.key=value` pairs by grader; values parsed as YAML."""
    import yaml

    options: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        name, dot, field = key.partition(".")
        if not sep or not dot:
            raise UserError(
                f"malformed option {pair!r}",
                field="--option",
                fix="write GRADER.key=value, e.g. refusal_keywords.list=xstest",
            )
        options.setdefault(name, {})[field] = yaml.safe_load(value)
    return options
