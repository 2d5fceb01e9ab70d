"""Which attempts an annotator sees, and in what order.

A sample is drawn once, stored in the run, and every annotator of it gets the same items (so
their agreement is defined), each in an order of their own (so no order effect is shared).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness._errors import UserError
from harness.annotate._store import AnnotationStore, SampleDefinition, annotation_raters
from harness.store import Status, read_manifest

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ALL", "STRATA", "annotator_order", "choose_sample", "draw", "sample_name"]

ALL = "all"
STRATA = ("configuration", "model", "deployment", "attack", "suite", "category", "harmful", "label")


def sample_name(size: int, seed: int, stratify_by: Sequence[str]) -> str:
    by = f"-by-{'+'.join(stratify_by)}" if stratify_by else ""
    return f"n{size}-seed{seed}{by}"


def annotator_order(sample: str, annotator: str, attempt_ids: Sequence[str]) -> list[str]:
    """A shuffle of its own for each annotator, the same in every session (so they resume),
    and stable when the item set grows (the `all` sample of a run that gains attempts)."""

    def key(attempt_id: str) -> str:
        return hashlib.sha256(f"{sample}\0{annotator}\0{attempt_id}".encode()).hexdigest()

    return sorted(attempt_ids, key=key)


def draw(
    frame: pd.DataFrame, size: int, seed: int, stratify_by: Sequence[str]
) -> tuple[list[str], dict[str, int]]:
    """`size` attempt ids of `frame`, allocated to the strata in proportion to their sizes
    (largest remainders), drawn at random within each: a self-weighting sample, so rates and a
    grader's error rates measured on it estimate those of the whole run."""
    rng = np.random.default_rng(seed)
    if not stratify_by:
        groups = {"all": sorted(frame["attempt_id"])}
    else:
        keyed = frame.assign(_stratum=frame[list(stratify_by)].astype(str).agg(" | ".join, axis=1))
        groups = {str(k): sorted(g["attempt_id"]) for k, g in keyed.groupby("_stratum", sort=True)}
    total = sum(len(g) for g in groups.values())
    size = min(size, total)
    quotas = {k: size * len(g) / total for k, g in groups.items()}
    counts = {k: int(q) for k, q in quotas.items()}
    by_remainder = sorted(groups, key=lambda k: (-(quotas[k] - counts[k]), k))
    for k in by_remainder[: size - sum(counts.values())]:
        counts[k] += 1
    chosen: list[str] = []
    for k in sorted(groups):
        picked = rng.choice(len(groups[k]), size=counts[k], replace=False)
        chosen.extend(groups[k][i] for i in sorted(picked))
    return chosen, {k: counts[k] for k in sorted(groups) if counts[k]}


def gradable(
    run_dir: Path, annotations: AnnotationStore, stratify_by: Sequence[str]
) -> tuple[pd.DataFrame, str | None]:
    """The attempts a person can label (status OK: blocked and failed ones have no reply of
    the model's to judge), with the primary grader's label when the sample stratifies by it.

    Read through the annotation store's own sqlite3 connection, never the ADBC reader: a
    second SQLite library in this process would delete the WAL under that connection."""
    columns = ["attempt_id", *[c for c in stratify_by if c != "label"]]
    frame = annotations.frame(
        f"SELECT {', '.join(columns)} FROM attempts WHERE status = ? ORDER BY attempt_id",
        (Status.OK.value,),
    )
    if "label" not in stratify_by:
        return frame, None
    grader = _label_grader(run_dir, annotations)
    labels = annotations.frame(
        "SELECT attempt_id, label FROM grades WHERE grader = ?", (grader,)
    ).set_index("attempt_id")["label"]
    frame = frame.assign(label=frame["attempt_id"].map(labels).fillna("UNGRADED"))
    return frame, grader


def _label_grader(run_dir: Path, annotations: AnnotationStore) -> str:
    manifest = read_manifest(run_dir)
    people = annotation_raters(run_dir)
    graders = annotations.frame("SELECT DISTINCT grader FROM grades ORDER BY grader")["grader"]
    machine = [str(g) for g in graders if g not in people]
    primary = manifest.primary_grader if manifest else None
    if primary in machine:
        return str(primary)
    if machine:
        return machine[0]
    raise UserError(
        "stratifying by `label` needs a graded run, and this run has no grades",
        file=run_dir,
        field="--stratify-by",
        fix="grade it first (harness grade RUN --grader refusal_keywords) or drop `label`",
    )


def choose_sample(
    run_dir: Path,
    annotations: AnnotationStore,
    *,
    size: int | None,
    seed: int,
    stratify_by: Sequence[str],
) -> tuple[SampleDefinition, list[str]]:
    """The sample asked for: the stored one of those parameters, else drawn now and stored;
    without `size`, the latest stored sample, else every gradable attempt (`all`)."""
    unknown = [k for k in stratify_by if k not in STRATA]
    if unknown:
        raise UserError(
            f"cannot stratify by {', '.join(unknown)}",
            field="--stratify-by",
            fix=f"use a comma-separated subset of {', '.join(STRATA)}",
        )
    stored = {s.name: s for s in annotations.samples()}
    if size is None:
        if stored:
            latest = list(stored.values())[-1]
            return latest, annotations.sample_items(latest.name)
        frame, _ = gradable(run_dir, annotations, ())
        definition = SampleDefinition(ALL, None, seed, (), None, {"all": len(frame)})
        return definition, sorted(frame["attempt_id"])
    name = sample_name(size, seed, stratify_by)
    if name not in stored:
        frame, grader = gradable(run_dir, annotations, stratify_by)
        if frame.empty:
            raise UserError(
                "this run has no attempt with a reply to label (none has status OK)",
                file=run_dir,
                fix="annotate a run whose models answered",
            )
        ids, strata = draw(frame, size, seed, stratify_by)
        definition = SampleDefinition(name, size, seed, tuple(stratify_by), grader, strata)
        annotations.save_sample(definition, ids)  # a concurrent first session may win: reread
        stored = {s.name: s for s in annotations.samples()}
    return stored[name], annotations.sample_items(name)
