"""The importers: one per format, registered by name, chosen from a file's content.

An importer is a class with a `name`, a one-line description of the shape it `expects`, a
`recognise(source) -> bool` that looks at the content (never at the file name alone), and a
`read(source, options) -> ImportBatch`. `@importer("name")` registers one; `--format NAME`
forces it. Recognition never guesses: exactly one importer must claim the file, else the file
is refused naming the shapes that were expected (or the importers that both claimed it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Protocol, TypeVar

from harness._errors import DataError
from harness.ingest._types import ImportBatch, ImportOptions, Source

__all__ = ["Importer", "choose_importer", "importer", "registered_importers"]


class Importer(Protocol):
    name: ClassVar[str]
    expects: ClassVar[str]  # the shape it reads, in a few words (shown when nothing matches)

    def recognise(self, source: Source) -> bool: ...

    def read(self, source: Source, options: ImportOptions) -> ImportBatch: ...


ImporterClass = TypeVar("ImporterClass", bound=type)
_REGISTRY: dict[str, type] = {}


def importer(name: str) -> Callable[[ImporterClass], ImporterClass]:
    """Register an importer class (instantiated without arguments) under `name`."""

    def register(cls: ImporterClass) -> ImporterClass:
        _REGISTRY[name] = cls
        return cls

    return register


def registered_importers() -> dict[str, Importer]:
    """Every importer, by name, in registration order."""
    _load_builtins()
    return {name: cls() for name, cls in _REGISTRY.items()}


def choose_importer(source: Source, forced: str | None) -> Importer:
    """The importer `--format` names, or the one importer that recognises the content."""
    importers = registered_importers()
    if forced is not None:
        if forced not in importers:
            raise DataError(
                f"unknown import format {forced!r}",
                field="--format",
                fix=f"use one of {', '.join(importers)}",
            )
        return importers[forced]
    if not source.location.startswith("hf:") and not source.is_file:
        raise DataError("file not found", file=source.location, fix="give an existing file")
    claimed = [i for i in importers.values() if i.recognise(source)]
    if len(claimed) == 1:
        return claimed[0]
    if not claimed:
        shapes = "; ".join(f"{i.name}: {i.expects}" for i in importers.values())
        raise DataError(
            f"matches none of the shapes harness import reads ({shapes})",
            file=source.location,
            fix="check the file, or force a reader with --format NAME",
        )
    names = ", ".join(i.name for i in claimed)
    raise DataError(
        f"matches several import formats ({names})",
        file=source.location,
        fix=f"choose one with --format ({names})",
    )


def _load_builtins() -> None:
    # importing the modules runs their @importer decorators; order = recognition order shown
    from harness.ingest import (  # noqa: F401
        _flat,
        _garak,
        _harmbench,
        _inspect,
        _jailbreakbench,
        _promptfoo,
    )
