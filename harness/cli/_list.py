"""`harness list graders|attacks|tools|providers|guards|reporters|importers`: the components
installed, built-in and plugins."""

from __future__ import annotations

from collections.abc import Mapping

import typer

from harness.cli._app import list_app

__all__ = [
    "list_attacks",
    "list_graders",
    "list_guards",
    "list_importers",
    "list_providers",
    "list_reporters",
    "list_tools",
]


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


@list_app.command("providers")
def list_providers() -> None:
    """Show the model providers installed (a model's `provider:`) and their own keys."""
    from harness.providers import registered_providers

    _print_plugins(registered_providers())


@list_app.command("guards")
def list_guards() -> None:
    """Show the guard kinds installed (a guard's `kind:`) and their own keys."""
    from harness.layers import registered_guard_kinds

    _print_plugins(registered_guard_kinds())


@list_app.command("reporters")
def list_reporters() -> None:
    """Show the report formats installed (`harness report --format`)."""
    from harness.reporting import registered_reporters

    _print_plugins(registered_reporters())


@list_app.command("importers")
def list_importers() -> None:
    """Show the log formats `harness import` reads."""
    from harness.ingest import IMPORTERS

    _print_plugins(IMPORTERS.all())


def _print_plugins(classes: Mapping[str, type]) -> None:
    """One line per entry (name, where it lives, its docstring's first line), then the config
    keys of its own (its `Options` model), so that a plugin's settings can be found here."""
    from harness._plugins import options_model

    for name, cls in classes.items():
        doc = (getattr(cls, "description", None) or cls.__doc__ or "").strip().splitlines()
        typer.echo(f"{name:14} {cls.__module__}:{cls.__qualname__}  {doc[0] if doc else ''}")
        keys = list(options_model(cls).model_fields)
        if keys:
            typer.echo(f"{'':14} own keys: {', '.join(keys)}")
