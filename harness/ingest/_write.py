"""Turning a reader's batch into a run store: all of it in one transaction, or nothing."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness._errors import DataError, RunStoreError
from harness.core import attempt_key, digest
from harness.ingest._types import ImportBatch, ImportedAttempt
from harness.store import (
    DB_NAME,
    MANIFEST_NAME,
    AttemptRecord,
    GradeRecord,
    Manifest,
    RunStore,
    Status,
    now_iso,
    read_manifest,
    write_manifest,
)

__all__ = ["IMPORTED_GRADER", "META_KEY", "ImportSummary", "write_batch"]

IMPORTED_GRADER = "imported"  # the grader that re-reads an imported rater's verdicts
META_KEY = "imported_raters"  # where an attempt's imported verdicts live in its item_meta
DEFAULT_DEPLOYMENT = "imported"


@dataclass
class ImportSummary:
    format: str
    attempts: int
    statuses: Counter[str]
    tally: str  # what was read and skipped (several files: each one's, joined by "; ")
    raters: dict[str, Counter[str]] = field(default_factory=dict)
    reads: list[tuple[str, str, str]] = field(default_factory=list)  # (file, format, tally)

    def lines(self) -> list[str]:
        statuses = ", ".join(f"{k}={v}" for k, v in sorted(self.statuses.items()))
        out = [f"read {source} as {fmt}: {tally}" for source, fmt, tally in self.reads]
        out.append(f"attempts: {self.attempts} ({statuses or 'none'})")
        for rater, labels in self.raters.items():
            counts = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
            out.append(f"rater {rater}: {counts}")
        return out


def write_batch(
    batch: ImportBatch,
    source: str | list[str],
    out: Path,
    fingerprint: str,
    *,
    name: str | None,
    harmful_default: bool,
    force: bool,
    label_map: Mapping[str, Mapping[str, str]] | None = None,
    extra_manifest: dict[str, Any] | None = None,
    reads: list[tuple[str, str, str]] | None = None,
) -> ImportSummary:
    """Store every attempt of `batch` and its imported verdicts (as grades) in `out`."""
    sources = [source] if isinstance(source, str) else source
    shown = ", ".join(sources)
    if not batch.attempts:
        raise DataError(
            f"no attempt to import ({batch.tally.describe()})",
            file=shown,
            fix="check that this is the file the tool wrote after its run",
        )
    run_name = name or batch.run_name or Path(sources[0]).stem
    pairs = [_record(a, run_name, harmful_default) for a in batch.attempts]
    records = [record for record, _ in pairs]
    _refuse_duplicates(pairs, shown, batch.format)
    now = now_iso()
    grades = [
        GradeRecord(
            attempt_id=record.attempt_id,
            grader=rater,
            label=str(verdict.label),
            score=verdict.score,
            rationale=verdict.rationale,
            raw=verdict.raw,
            error=verdict.error,
            graded_at=now,
        )
        for record, attempt in pairs
        if record.status is Status.OK
        for rater, verdict in attempt.raters.items()
    ]
    mapping = {rater: dict(entries) for rater, entries in (label_map or {}).items()}
    _refuse_other_source(out, fingerprint, mapping, force)
    with RunStore(out, create=True) as store:
        store.write_batch(records, grades)
        store.build_read_indexes()
    previous = read_manifest(out) or Manifest()
    graders = previous.grader_entries()
    for rater in dict.fromkeys(g.grader for g in grades):
        human = {"human": True} if rater in batch.human_raters else {}
        graders[rater] = {
            "name": IMPORTED_GRADER,
            "id": rater,
            "rater": rater,
            "options": {"rater": rater, **human},
            "primary": False,
        }
    primary = previous.primary_grader or (batch.primary if batch.primary in graders else None)
    if primary in graders and graders[primary].get("name") == IMPORTED_GRADER:
        graders[primary]["primary"] = True
    write_manifest(
        out,
        Manifest(
            **(extra_manifest or {}),
            run=run_name,
            kind="import",
            format=batch.format,
            source=source,
            fingerprint=fingerprint,
            imported_from=batch.details,
            imported_raters=batch.raters,
            label_map=mapping,
            graders=list(graders.values()),
            primary_grader=primary,
            configurations=_configurations(pairs),
        ),
    )
    raters: dict[str, Counter[str]] = {}
    for grade in grades:
        raters.setdefault(grade.grader, Counter())[grade.label] += 1
    reads = reads or [(shown, batch.format, batch.tally.describe())]
    return ImportSummary(
        format=batch.format,
        attempts=len(records),
        statuses=Counter(str(r.status) for r in records),
        tally="; ".join(tally for _, _, tally in reads),
        raters=raters,
        reads=reads,
    )


def _record(
    attempt: ImportedAttempt, run_name: str, harmful_default: bool
) -> tuple[AttemptRecord, ImportedAttempt]:
    system = attempt.system_prompt
    deployment = attempt.deployment or (
        DEFAULT_DEPLOYMENT if not system else f"system-{digest(system, 8)}"
    )
    configuration = attempt.configuration or (
        attempt.model if deployment == DEFAULT_DEPLOYMENT else f"{attempt.model}/{deployment}"
    )
    messages = attempt.messages
    if messages is None:
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": attempt.prompt})
    meta = dict(attempt.meta)
    if attempt.raters:
        meta[META_KEY] = {r: v.as_json() for r, v in attempt.raters.items()}
    record = AttemptRecord(
        attempt_id=attempt_key(
            configuration, run_name, attempt.item_id, attempt.attack, attempt.sample_index
        ),
        configuration=configuration,
        model=attempt.model,
        deployment=deployment,
        suite=run_name,
        item_id=attempt.item_id,
        category=attempt.category,
        harmful=harmful_default if attempt.harmful is None else attempt.harmful,
        attack=attempt.attack,
        sample_index=attempt.sample_index,
        request_hash=digest(messages),
        prompt=attempt.prompt,
        messages=json.dumps(messages, ensure_ascii=False, default=str),
        response=attempt.response,
        raw_response=None,
        tool_calls=(
            None
            if attempt.tool_calls is None
            else json.dumps(attempt.tool_calls, ensure_ascii=False, default=str)
        ),
        targets=None,
        guard_events=None,
        model_calls=0,
        finish_reason=attempt.finish_reason,
        status=attempt.status,
        error=attempt.error,
        error_kind=attempt.error_kind,
        tries=0,
        latency_s=attempt.latency_s,
        prompt_tokens=attempt.prompt_tokens,
        completion_tokens=attempt.completion_tokens,
        started_at=attempt.started_at,
        finished_at=attempt.finished_at,
        item_meta=json.dumps(meta, ensure_ascii=False, default=str),
    )
    return record, attempt


def _configurations(pairs: list[tuple[AttemptRecord, ImportedAttempt]]) -> list[dict[str, Any]]:
    """One descriptor per configuration: what the like-for-like checks compare."""
    seen: dict[str, dict[str, Any]] = {}
    for record, attempt in pairs:
        seen.setdefault(
            record.configuration,
            {
                "name": record.configuration,
                "model": record.model,
                "deployment": record.deployment,
                "system_prompt": attempt.system_prompt,
            },
        )
    return list(seen.values())


def _refuse_duplicates(
    pairs: list[tuple[AttemptRecord, ImportedAttempt]], source: str, fmt: str
) -> None:
    seen: set[str] = set()
    for record, _ in pairs:
        if record.attempt_id in seen:
            raise DataError(
                f"item id '{record.item_id}' (attack {record.attack}, sample "
                f"{record.sample_index}) appears twice for configuration "
                f"'{record.configuration}'",
                file=source,
                field="--id" if fmt == "flat" else None,
                fix=(
                    "pass an --id column that is unique, or a --configuration/--model column"
                    if fmt == "flat"
                    else f"the {fmt} log repeats an attempt: import the log the tool wrote, "
                    "unedited, or split it"
                ),
            )
        seen.add(record.attempt_id)


def _refuse_other_source(
    out: Path, fingerprint: str, label_map: dict[str, dict[str, str]], force: bool
) -> None:
    """Another dataset's run is never mixed in: refused, or with --force replaced whole.

    The same file read with another label map is other data too: its imported verdicts differ
    (and stored attempts are never rewritten in place).
    """
    previous = read_manifest(out)
    if previous is None:
        return
    same_data = previous.fingerprint == fingerprint
    if same_data and previous.label_map == label_map:
        return
    if not force:
        raise RunStoreError(
            "the directory already holds a run from other data"
            if not same_data
            else "the directory holds this file imported with another label map",
            file=out,
            fix="choose another --out, or pass --force to replace it",
        )
    for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", MANIFEST_NAME):
        (out / name).unlink(missing_ok=True)
