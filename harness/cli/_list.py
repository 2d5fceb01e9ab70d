"""`harness list graders|attacks|tools`: the components installed."""

from __future__ import annotations

import typer

from harness.cli._app import list_app

__all__ = ["list_attacks", "list_graders", "list_tools"]


@list_app.command("graders")
def list_graders() -> None:
    """Show the graders installed (built-in and plugins)."""
    from harness.grading import UNVALIDATED, cards_of, registered_graders

    for name, cls in registered_graders().items():
        doc = (cls.__doc__ or "").strip().splitlines()
        typer.echo(f"{name:20} {cls.__module__}:{cls.__qualname__}  {doc[0] if doc else ''}")
        cards = cards_of(cls)
        for card in cards:
            typer.echo(f"{'':20} validity ({card.variant}): {card.summary()}")
        if not cards:
            typer.echo(f"{'':20} validity: {getattr(cls, 'validity_note', None) or UNVALIDATED}")


@list_app.command("attacks")
def list_attacks() -> None:
    """Show the built-in attack transforms."""
    from harness.attacks import describe_attacks

    for name, description in describe_attacks():
        typer.echo(f"{name:24} {description}")


@list_app.command("tools")
def list_tools() -> None:
    """Show the simulated tools a tool-access deployment can offer."""
    from harness.tools import CATALOG

    for name, definition in sorted(CATALOG.items()):
        typer.echo(f"{name:22} {definition.spec.description.splitlines()[0]}")
