"""A progress bar with per-status counts and an ETA, on stderr."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.runner._adaptive import AdaptiveGate

if TYPE_CHECKING:  # rich loads only for a bar (~25 ms of a run's start without a terminal)
    from rich.progress import Progress, TaskID

__all__ = ["RunProgress"]


class RunProgress:
    def __init__(self, total: int, *, enabled: bool, gates: Sequence[AdaptiveGate] = ()) -> None:
        self._counts: Counter[str] = Counter()
        self._gates = gates
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]run"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[counts]}"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._task = self._progress.add_task("run", total=total, counts="")

    def __enter__(self) -> RunProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def advance(self, status: str) -> None:
        self._counts[status] += 1
        if self._progress is not None and self._task is not None:
            counts = " ".join(f"{k.lower()}={v}" for k, v in sorted(self._counts.items()))
            # a model slowed down by rate limits shows its current concurrency
            throttled = " ".join(
                f"{g.name} concurrency {g.limit}/{g.ceiling}"
                for g in self._gates
                if g.limit < g.ceiling
            )
            self._progress.update(self._task, advance=1, counts=f"{counts} {throttled}".strip())
