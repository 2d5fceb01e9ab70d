"""`harness version`."""

from __future__ import annotations

import typer

from harness._version import __version__
from harness.cli._app import app

__all__ = ["version"]


@app.command()
def version() -> None:
    """Print the harness version."""
    typer.echo(__version__)
