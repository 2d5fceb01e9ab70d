"""`harness validate`: the plan of a config, with every check `run` makes; sends nothing."""

from __future__ import annotations

import typer

from harness.cli._app import ConfigArg, app

__all__ = ["validate"]


@app.command()
def validate(config: ConfigArg) -> None:
    """Check a config and print the resolved plan, without sending anything."""
    from harness.config import load_config, missing_secrets
    from harness.runner import check_config, describe_plan

    loaded = load_config(config)
    typer.echo(describe_plan(check_config(loaded, secrets=False)))
    # every unset key at once, after the plan: `run` refuses to start until they are set
    for env, field in missing_secrets(loaded):
        typer.echo(
            f"warning: {loaded.path}: {field}: environment variable {env} is not set "
            f"(export {env}=<your key> before harness run)",
            err=True,
        )
