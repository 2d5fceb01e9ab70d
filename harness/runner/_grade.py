"""`harness grade`: (re-)grade a stored run without sending a single model request."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness._errors import ConfigError
from harness.config import BudgetSpec, GraderSpec, ModelSpec, PriceSpec, read_api_key
from harness.grading import GraderContext
from harness.runner._budget import Budget, BudgetExhausted, budget_from_store
from harness.runner._channels import Channel, build_channels
from harness.runner._runner import NamedGrader, grade_gated
from harness.runner._session import judge_through, prepare_graders
from harness.store import (
    MANIFEST_NAME,
    GradeRecord,
    Manifest,
    RunStore,
    Status,
    read_manifest,
    write_manifest,
)

__all__ = ["grade_run"]

BATCH = 256


async def grade_run(
    run_dir: Path,
    specs: Sequence[GraderSpec],
    *,
    concurrency: int = 8,
    models: Mapping[str, ModelSpec] | None = None,
) -> Counter[str]:
    """Grade every OK attempt with each spec, replacing earlier grades of the same rater.

    Judge models come from the run's own config (`models` in its manifest), or from `models`
    (e.g. another config's, for an imported run). The run's budget holds: judge requests are
    stored and counted with everything the run already spent, and grading stops (raising
    BudgetExhausted, with what was graded stored) when a limit is reached.
    """
    manifest = read_manifest(run_dir) or Manifest()
    base_dir = Path(manifest.base_dir or Path.cwd())
    channels, secrets = _judge_channels(run_dir, manifest, specs, base_dir, models or {})
    stop = asyncio.Event()
    config = manifest.config or {}
    budget_spec = BudgetSpec.model_validate(config["budget"]) if config.get("budget") else None
    prices = {name: PriceSpec.model_validate(price) for name, price in manifest.prices.items()}
    try:
        context = GraderContext(base_dir, judge=judge_through(channels))
        graders = prepare_graders(specs, context)
        with RunStore(run_dir) as store:
            budget = budget_from_store(budget_spec, prices, store, stop)
        if budget.exhausted:
            raise BudgetExhausted(budget.exhausted)
        for channel in channels.values():
            channel.budget = budget
        labels = await _grade_all(run_dir, graders, concurrency, budget, stop, secrets)
    finally:
        await asyncio.gather(*(c.aclose() for c in channels.values()))
    _record_graders(run_dir, manifest, specs, graders)
    if budget.exhausted:
        raise BudgetExhausted(budget.exhausted)
    return labels


def _judge_channels(
    run_dir: Path,
    manifest: Manifest,
    specs: Sequence[GraderSpec],
    base_dir: Path,
    extra: Mapping[str, ModelSpec],
) -> tuple[dict[str, Channel], list[str]]:
    declared = {
        **((manifest.config or {}).get("models") or {}),
        **{name: spec.model_dump(mode="json") for name, spec in extra.items()},
    }
    wanted = {str(s.options["model"]) for s in specs if "model" in s.options}
    models: dict[str, ModelSpec] = {}
    for name in sorted(wanted):
        if name not in declared:
            raise ConfigError(
                f"judge model '{name}' is not declared in this run's config",
                file=run_dir / MANIFEST_NAME,
                field="config.models",
                fix=f"declare '{name}' under models in the experiment config and re-run",
            )
        models[name] = ModelSpec.model_validate(declared[name])
    secrets = {}
    for name, model in models.items():
        env = model.api_key_env
        if env:
            secrets[env] = read_api_key(env, field=f"models.{name}.api_key_env", when="grading")
    return build_channels(models, secrets, base_dir), list(secrets.values())


async def _grade_all(
    run_dir: Path,
    graders: Sequence[NamedGrader],
    concurrency: int,
    budget: Budget,
    stop: asyncio.Event,
    secrets: Sequence[str],
) -> Counter[str]:
    labels: Counter[str] = Counter()
    # a judge's error text may echo its key: scrubbed as in a run
    with RunStore(run_dir, secrets=secrets) as store:
        ok = (a for a in store.iter_attempts() if a.status is Status.OK)
        gate = asyncio.Semaphore(concurrency)
        pending: list[Any] = []
        for attempt in ok:
            if stop.is_set():
                break
            pending.extend(grade_gated(attempt, g, gate, stop) for g in graders)
            if len(pending) >= BATCH:
                _write(store, await asyncio.gather(*pending), budget, labels)
                pending = []
        _write(store, await asyncio.gather(*pending), budget, labels)
    return labels


def _write(
    store: RunStore, graded: Sequence[GradeRecord | None], budget: Budget, labels: Counter[str]
) -> None:
    # a grade not begun because the budget ran out is not written: the old one stays
    batch = [g for g in graded if g is not None]
    store.write_batch((), batch, budget.drain())
    labels.update(g.label for g in batch)


def _record_graders(
    run_dir: Path,
    manifest: Manifest,
    specs: Sequence[GraderSpec],
    graders: Sequence[NamedGrader],
) -> None:
    fingerprints = manifest.grader_fingerprints
    manifest.grader_fingerprints = fingerprints | {g.rater: g.fingerprint for g in graders}
    known = manifest.grader_entries()
    for spec in specs:
        known[spec.rater] = spec.model_dump(mode="json") | {"rater": spec.rater}
    entries = list(known.values())
    manifest.graders = entries
    if not manifest.primary_grader:
        primary = next((g for g in entries if g.get("primary")), entries[0] if entries else None)
        manifest.primary_grader = primary["rater"] if primary else None
    write_manifest(run_dir, manifest)
