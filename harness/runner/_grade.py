"""`harness grade`: (re-)grade a stored run without sending a single model request."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.config import GraderSpec
from harness.grading import GraderContext
from harness.runner._runner import NamedGrader, grade_record
from harness.runner._session import prepare_graders
from harness.store import GradeRecord, RunStore, Status, read_manifest, write_manifest

__all__ = ["grade_run"]

BATCH = 256


async def grade_run(
    run_dir: Path, specs: Sequence[GraderSpec], *, concurrency: int = 8
) -> Counter[str]:
    """Grade every OK attempt with each spec, replacing earlier grades of the same rater."""
    manifest = read_manifest(run_dir) or {}
    context = GraderContext(Path(manifest.get("base_dir", Path.cwd())))
    graders = prepare_graders(specs, context)
    labels: Counter[str] = Counter()
    with RunStore(run_dir) as store:
        batch: list[GradeRecord] = []
        ok = (a for a in store.iter_attempts() if a.status is Status.OK)
        gate = asyncio.Semaphore(concurrency)
        pending: list[Any] = []
        for attempt in ok:
            pending.extend(_graded(attempt, g, gate) for g in graders)
            if len(pending) >= BATCH:
                batch = list(await asyncio.gather(*pending))
                store.write_batch((), batch)
                labels.update(g.label for g in batch)
                pending = []
        batch = list(await asyncio.gather(*pending))
        store.write_batch((), batch)
        labels.update(g.label for g in batch)
    _record_graders(run_dir, manifest, specs)
    return labels


async def _graded(attempt: Any, named: NamedGrader, gate: asyncio.Semaphore) -> GradeRecord:
    async with gate:
        return await grade_record(attempt, named)


def _record_graders(run_dir: Path, manifest: dict[str, Any], specs: Sequence[GraderSpec]) -> None:
    known = {g["rater"]: g for g in manifest.get("graders", [])}
    for spec in specs:
        known[spec.rater] = spec.model_dump(mode="json") | {"rater": spec.rater}
    graders = list(known.values())
    manifest["graders"] = graders
    if not manifest.get("primary_grader"):
        primary = next((g for g in graders if g.get("primary")), graders[0] if graders else None)
        manifest["primary_grader"] = primary["rater"] if primary else None
    write_manifest(run_dir, manifest)
