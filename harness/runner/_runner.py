"""The async runner: per-model worker pools, retries, inline grading, batched durable writes."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiolimiter import AsyncLimiter

from harness.grading import Grader, grade_safely
from harness.providers import ChatRequest, Provider, ProviderError, Reply
from harness.runner._plan import Plan, WorkItem
from harness.runner._progress import RunProgress
from harness.runner._retry import CallOutcome, call_with_retries
from harness.store import AttemptRecord, GradeRecord, RunStore, Status, now_iso

__all__ = ["NamedGrader", "RunOptions", "RunSummary", "execute", "grade_record"]

log = logging.getLogger("harness.runner")


@dataclass(frozen=True)
class RunOptions:
    retry_errors: bool = False  # re-send attempts stored as ERROR
    flush_every: int = 64  # attempts per transaction
    flush_interval: float = 0.5  # seconds; bounds what a kill -9 can lose
    progress: bool = True


@dataclass
class RunSummary:
    planned: int = 0
    already_done: int = 0
    pending: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    interrupted: bool = False
    elapsed_s: float = 0.0

    @property
    def finished(self) -> int:
        return sum(self.statuses.values())


@dataclass(frozen=True)
class NamedGrader:
    rater: str
    grader: Grader


class _Writer:
    """Buffers finished attempts with their grades; each flush is one transaction."""

    def __init__(self, store: RunStore, options: RunOptions) -> None:
        self._store = store
        self._options = options
        self._attempts: list[AttemptRecord] = []
        self._grades: list[GradeRecord] = []

    def add(self, attempt: AttemptRecord, grades: Sequence[GradeRecord]) -> None:
        self._attempts.append(attempt)
        self._grades.extend(grades)
        if len(self._attempts) >= self._options.flush_every:
            self.flush()

    def flush(self) -> None:
        if self._attempts:
            self._store.write_batch(self._attempts, self._grades)
            self._attempts, self._grades = [], []

    async def flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._options.flush_interval)
            self.flush()


async def execute(
    plan: Plan,
    store: RunStore,
    providers: Mapping[str, Provider],
    graders: Sequence[NamedGrader],
    *,
    options: RunOptions | None = None,
    stop: asyncio.Event | None = None,
) -> RunSummary:
    """Send every pending attempt of the plan; returns when done or when `stop` is set."""
    stop = stop or asyncio.Event()
    options = options or RunOptions()
    started = time.perf_counter()
    done = store.finished_requests(include_errors=not options.retry_errors)
    summary = RunSummary(planned=plan.size)
    pending = {name: _pending(plan, name, done) for name in providers}
    summary.pending = sum(count for count, _ in pending.values())
    summary.already_done = summary.planned - summary.pending
    writer = _Writer(store, options)
    limiters = {name: _limiter(plan, name) for name in providers}
    with RunProgress(summary.pending, enabled=options.progress) as progress:
        workers = [
            asyncio.create_task(
                _worker(
                    work, providers[name], limiters[name], graders, writer, progress, summary, stop
                )
            )
            for name, (_, work) in pending.items()
            for _ in range(_pool_size(plan, name))
        ]
        flusher = asyncio.create_task(writer.flush_periodically())
        stopper = asyncio.create_task(stop.wait())
        all_done: asyncio.Future[list[None]] = asyncio.ensure_future(asyncio.gather(*workers))
        try:
            waiting: list[asyncio.Future[Any]] = [stopper, all_done]
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            summary.interrupted = not all_done.done()
            # a worker that raised is a bug in the harness: surface it after the flush
            failure = all_done.exception() if all_done.done() else None
        finally:
            everything: list[asyncio.Future[Any]] = [*workers, all_done, flusher, stopper]
            for task in everything:
                task.cancel()
            await asyncio.gather(*everything, return_exceptions=True)
            writer.flush()
    if failure is not None:
        raise failure
    summary.elapsed_s = time.perf_counter() - started
    return summary


def _pool_size(plan: Plan, model_name: str) -> int:
    spec = plan.config.spec.models[model_name]
    return 1 if spec.provider == "llamacpp" else spec.concurrency


def _pending(
    plan: Plan, model_name: str, done: Mapping[str, str]
) -> tuple[int, Iterator[WorkItem]]:
    """Count now, iterate lazily later: the work list is streamed, never held in memory."""

    def is_pending(work: WorkItem) -> bool:
        return done.get(work.attempt_id) != work.request_hash

    count = sum(1 for work in plan.iter_work(model_name) if is_pending(work))
    return count, (work for work in plan.iter_work(model_name) if is_pending(work))


async def _worker(
    work: Iterator[WorkItem],
    provider: Provider,
    limiter: AsyncLimiter | None,
    graders: Sequence[NamedGrader],
    writer: _Writer,
    progress: RunProgress,
    summary: RunSummary,
    stop: asyncio.Event,
) -> None:
    # workers of one model share the iterator; next() never awaits, so no two take one item
    for item in work:
        if stop.is_set():
            return
        attempt = await _attempt(item, provider, limiter)
        grades = await _grade(attempt, graders)
        writer.add(attempt, grades)
        summary.statuses[attempt.status] += 1
        progress.advance(attempt.status)


def _limiter(plan: Plan, model_name: str) -> AsyncLimiter | None:
    rpm = plan.config.spec.models[model_name].rpm
    # one request per 60/rpm seconds: smooth, with no burst at start
    return AsyncLimiter(1, 60.0 / rpm) if rpm else None


async def _attempt(
    work: WorkItem, provider: Provider, limiter: AsyncLimiter | None
) -> AttemptRecord:
    spec = work.configuration.model
    started_at = now_iso()
    request = ChatRequest(messages=work.messages, params=work.params)
    try:
        outcome = await call_with_retries(provider, request, spec.retry, limiter)
    except Exception as exc:  # a provider bug must still end in a recorded state
        log.exception("provider raised an unexpected error")
        outcome = CallOutcome(
            None, ProviderError(f"internal error: {type(exc).__name__}: {exc}"), 1
        )
    return _record(work, outcome, started_at)


def _record(work: WorkItem, outcome: CallOutcome, started_at: str) -> AttemptRecord:
    reply: Reply | None = outcome.reply
    error: ProviderError | None = outcome.error
    calls = [
        {"id": c.id, "name": c.name, "arguments": c.arguments}
        for c in (reply.tool_calls if reply else ())
    ]
    conf, item = work.configuration, work.item
    return AttemptRecord(
        attempt_id=work.attempt_id,
        configuration=conf.name,
        model=conf.model_name,
        deployment=conf.deployment_name,
        suite=item.suite,
        item_id=item.item_id,
        category=item.category,
        harmful=item.harmful,
        attack=work.attack,
        sample_index=work.sample_index,
        request_hash=work.request_hash,
        prompt=item.prompt,
        messages=json.dumps(work.messages, ensure_ascii=False),
        response=reply.text if reply else None,
        tool_calls=json.dumps(calls, ensure_ascii=False) if calls else None,
        finish_reason=reply.finish_reason if reply else None,
        status=Status.OK if reply else Status.ERROR,
        error=error.describe() if error else None,
        error_kind=error.kind if error else None,
        tries=outcome.tries,
        latency_s=reply.latency_s if reply else None,
        prompt_tokens=reply.usage.prompt_tokens if reply else None,
        completion_tokens=reply.usage.completion_tokens if reply else None,
        started_at=started_at,
        finished_at=now_iso(),
        item_meta=json.dumps(item.meta, ensure_ascii=False, default=str) if item.meta else None,
    )


async def _grade(attempt: AttemptRecord, graders: Sequence[NamedGrader]) -> list[GradeRecord]:
    if attempt.status is not Status.OK:
        return []  # errors are counted as errors, never graded into success or refusal
    return [await grade_record(attempt, g) for g in graders]


async def grade_record(attempt: AttemptRecord, named: NamedGrader) -> GradeRecord:
    verdict = await grade_safely(named.grader, attempt)
    return GradeRecord(
        attempt_id=attempt.attempt_id,
        grader=named.rater,
        label=str(verdict.label),
        score=verdict.score,
        rationale=verdict.rationale,
        raw=verdict.raw,
        error=verdict.error,
        graded_at=now_iso(),
    )
