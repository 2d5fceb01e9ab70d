"""The importers: one per format, registered by name, chosen from a file's content.

An importer is a class with a `name`, a one-line description of the shape it `expects`, a
`recognise(source) -> bool` that looks at the content (never at the file name alone), and a
`read(source, options) -> ImportBatch`. Each is registered in the `harness.importers`
entry-point group (the built-ins too, one module each; `@importer("name")` also registers one
when its module is imported); `--format NAME` forces it. Recognition never guesses: exactly one
importer must claim the file, else the file is refused naming the shapes that were expected (or
the importers that both claimed it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Protocol, TypeVar

from harness._errors import DataError
from harness._plugins import Registry
from harness.ingest._types import ImportBatch, ImportOptions, Source

__all__ = ["IMPORTERS", "Importer", "choose_importer", "importer", "registered_importers"]


class Importer(Protocol):
    name: ClassVar[str]
    expects: ClassVar[str]  # the shape it reads, in a few words (shown when nothing matches)

    def recognise(self, source: Source) -> bool: ...

    def read(self, source: Source, options: ImportOptions) -> ImportBatch: ...


ImporterClass = TypeVar("ImporterClass", bound=type)
IMPORTERS: Registry[type] = Registry("harness.importers", "import format", "--format")


def importer(name: str) -> Callable[[ImporterClass], ImporterClass]:
    """Register an importer class (instantiated without arguments) under `name`."""
    return IMPORTERS.register(name)  # type: ignore[return-value]


def registered_importers() -> dict[str, Importer]:
    """Every installed importer, by name (the harness's own first)."""
    return {name: cls() for name, cls in IMPORTERS.all().items()}


def choose_importer(source: Source, forced: str | None) -> Importer:
    """The importer `--format` names, or the one importer that recognises the content."""
    if forced is not None:
        cls = IMPORTERS.find(forced)
        if cls is None:
            raise DataError(IMPORTERS.unknown(forced), field="--format", fix=IMPORTERS.fix(forced))
        found: Importer = cls()
        return found
    importers = registered_importers()
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
