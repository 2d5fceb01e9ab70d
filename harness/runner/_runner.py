"""The async runner: per-model worker pools, retries, inline grading, batched durable writes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from harness.grading import Grader, grade_safely
from harness.runner._adaptive_attack import recording_steps
from harness.runner._attempt import ConfigurationRuntime, internal_error_record, run_attempt
from harness.runner._budget import Budget, requests_for
from harness.runner._plan import Plan, WorkItem
from harness.runner._progress import RunProgress
from harness.store import AttackStep, AttemptRecord, GradeRecord, RunStore, Status, now_iso

__all__ = [
    "NamedGrader",
    "RunOptions",
    "RunSummary",
    "execute",
    "grade_gated",
    "grade_record",
    "regrade",
]

log = logging.getLogger("harness.runner")


@dataclass(frozen=True)
class RunOptions:
    retry_errors: bool = False  # re-send attempts stored as ERROR
    flush_every: int = 256  # attempts per transaction
    flush_interval: float = 0.5  # seconds; bounds what a kill -9 can lose
    progress: bool = True


@dataclass
class RunSummary:
    planned: int = 0
    already_done: int = 0
    pending: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    error_kinds: Counter[str] = field(default_factory=Counter)
    interrupted: bool = False
    elapsed_s: float = 0.0
    budget_exhausted: str | None = None  # why the budget stopped the run, if it did
    regraded: Counter[str] = field(default_factory=Counter)  # grades of changed graders

    @property
    def finished(self) -> int:
        return sum(self.statuses.values())


@dataclass(frozen=True)
class NamedGrader:
    rater: str
    grader: Grader
    fingerprint: str | None = None  # what decided its labels, stored with each grade


class _Writer:
    """Buffers finished attempts with their grades; each flush is one transaction.

    Transactions are written by a thread of their own, in order: sqlite3 lets go of the GIL
    while SQLite works, so the event loop goes on serving replies meanwhile (a transaction
    of 256 attempts takes ~15 ms). At most one batch waits behind the one being written; a
    worker that would queue a third waits first, so a slow disk slows the run, not memory.
    """

    def __init__(self, store: RunStore, options: RunOptions, budget: Budget | None) -> None:
        self._store = store
        self._options = options
        self._budget = budget
        self._attempts: list[AttemptRecord] = []
        self._grades: list[GradeRecord] = []
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="harness-store")
        self._writing: list[asyncio.Future[None]] = []
        self._failure: BaseException | None = None  # the first batch that could not be written

    async def add(self, attempt: AttemptRecord, grades: Sequence[GradeRecord]) -> None:
        self._attempts.append(attempt)
        self._grades.extend(grades)
        if len(self._attempts) >= self._options.flush_every:
            await self.flush()

    async def flush(self) -> None:
        # requests go with whichever batch is written next: spent money is never forgotten
        requests = self._budget.drain() if self._budget is not None else []
        if self._attempts or requests:
            batch, grades = self._attempts, self._grades
            self._attempts, self._grades = [], []
            loop = asyncio.get_running_loop()
            self._writing.append(
                loop.run_in_executor(self._thread, self._store.write_batch, batch, grades, requests)
            )
        if len(self._writing) > 1:
            # asyncio.wait, unlike awaiting the future, never cancels a batch being written
            await asyncio.wait(self._writing[:-1])
        self._reap()

    async def close(self) -> None:
        """Write what is buffered and wait for every batch; raise if one could not be written."""
        try:
            await self.flush()
            if self._writing:
                await asyncio.wait(self._writing)
            self._reap()
        finally:
            self._thread.shutdown(wait=True)

    def _reap(self) -> None:
        """Forget written batches; raise, here and at every later flush, if one failed: the
        run must not go on, or end, as if its answers were stored."""
        for future in self._writing:
            if future.done() and self._failure is None:
                self._failure = future.exception()
        self._writing = [f for f in self._writing if not f.done()]
        if self._failure is not None:
            raise self._failure

    async def load_steps(self, attempt_id: str, request_hash: str) -> dict[str, str]:
        """The stored steps of an adaptive attack's search (read by the writer's thread: the
        store's connection is used by one thread at a time)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._thread, self._store.attack_steps, attempt_id, request_hash
        )

    async def save_step(self, step: AttackStep) -> None:
        """One step of a search, stored before the search goes on (its own transaction, with
        the requests charged so far: a kill loses neither)."""
        requests = self._budget.drain() if self._budget is not None else []
        loop = asyncio.get_running_loop()
        writing = loop.run_in_executor(self._thread, self._store.write_step, step, requests)
        # a search cancelled meanwhile (the run stopped) must not cancel the write: its step
        # and the requests drained with it would be lost; `close` waits for it
        self._writing.append(writing)
        await asyncio.shield(writing)

    async def flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._options.flush_interval)
            await self.flush()


async def execute(
    plan: Plan,
    store: RunStore,
    runtimes: Mapping[str, ConfigurationRuntime],
    graders: Sequence[NamedGrader],
    *,
    options: RunOptions | None = None,
    stop: asyncio.Event | None = None,
    budget: Budget | None = None,
) -> RunSummary:
    """Send every pending attempt of the plan; returns when done or when `stop` is set.

    `runtimes` maps each configuration name to its channel and layers; the requests `budget`
    charged are stored with the attempts.
    """
    stop = stop or asyncio.Event()
    options = options or RunOptions()
    started = time.perf_counter()
    done = store.finished_requests(include_errors=not options.retry_errors)
    summary = RunSummary(planned=plan.size)
    channels = {r.channel.name: r.channel for r in runtimes.values()}
    pending = {name: _pending(plan, name, done) for name in channels}
    del done  # the marks in `pending` replace it: not held for the whole run
    summary.pending = sum(count for count, _ in pending.values())
    summary.already_done = summary.planned - summary.pending
    writer = _Writer(store, options, budget)
    gates = [c.gate for c in channels.values()]
    with (
        RunProgress(summary.pending, enabled=options.progress, gates=gates) as progress,
        recording_steps(writer),  # the workers' adaptive attacks store each step as it comes
    ):
        workers = [
            asyncio.create_task(_worker(work, runtimes, graders, writer, progress, summary, stop))
            for name, (_, work) in pending.items()
            for _ in range(channels[name].pool_size)
        ]
        flusher = asyncio.create_task(writer.flush_periodically())
        stopper = asyncio.create_task(stop.wait())
        all_done: asyncio.Future[list[None]] = asyncio.ensure_future(asyncio.gather(*workers))
        try:
            # the flusher ends only by failing to write: the run stops then, not at its end
            waiting: list[asyncio.Future[Any]] = [stopper, all_done, flusher]
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            summary.interrupted = not all_done.done()
            # a worker that raised is a bug in the harness: surface it after the flush
            failure = all_done.exception() if all_done.done() else None
        finally:
            everything: list[asyncio.Future[Any]] = [*workers, all_done, flusher, stopper]
            for task in everything:
                task.cancel()
            await asyncio.gather(*everything, return_exceptions=True)
            await writer.close()
    if failure is not None:
        raise failure
    summary.elapsed_s = time.perf_counter() - started
    return summary


def _pending(
    plan: Plan, model_name: str, done: Mapping[str, str]
) -> tuple[int, Iterator[WorkItem]]:
    """Count now, iterate lazily later: the work list is streamed, never held in memory.

    A fresh run (nothing stored) is all pending: no count pass. Otherwise one pass marks what
    is pending, one bit per work item; the iteration skips the rest without hashing them again,
    and `done` (one entry per stored attempt) need not be kept for the whole run.
    """
    if not done:
        return plan.size_of(model_name), plan.iter_work(model_name)
    marks = bytearray()
    count = 0
    for index, work in enumerate(plan.iter_work(model_name)):
        bit = index & 7
        if not bit:
            marks.append(0)
        stored = done.get(work.attempt_id)  # the request hash only for what is stored
        if stored is None or stored != work.request_hash:
            marks[-1] |= 1 << bit
            count += 1
    return count, (_marked(plan.iter_work(model_name), marks) if count else iter(()))


def _marked(work: Iterator[WorkItem], marks: bytearray) -> Iterator[WorkItem]:
    for index, item in enumerate(work):
        if marks[index >> 3] >> (index & 7) & 1:
            yield item


async def _worker(
    work: Iterator[WorkItem],
    runtimes: Mapping[str, ConfigurationRuntime],
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
        with requests_for(
            role="target",
            configuration=item.configuration.name,
            attack=item.attack,
            attempt_id=item.attempt_id,
        ):
            attempt = await _attempt(item, runtimes[item.configuration.name])
            grades = await _grade(attempt, graders)
        await writer.add(attempt, grades)
        summary.statuses[attempt.status] += 1
        if attempt.error_kind:
            summary.error_kinds[attempt.error_kind] += 1
        progress.advance(attempt.status)


async def _attempt(work: WorkItem, runtime: ConfigurationRuntime) -> AttemptRecord:
    started_at = now_iso()
    try:
        return await run_attempt(work, runtime, started_at)
    except Exception as exc:  # a bug below must still end in a recorded state
        log.exception("attempt failed with an unexpected error")
        return internal_error_record(work, f"{type(exc).__name__}: {exc}", started_at)


async def _grade(attempt: AttemptRecord, graders: Sequence[NamedGrader]) -> list[GradeRecord]:
    if attempt.status is not Status.OK:
        return []  # errors are counted as errors, never graded into success or refusal
    return [await grade_record(attempt, g) for g in graders]


async def grade_gated(
    attempt: AttemptRecord, named: NamedGrader, gate: asyncio.Semaphore, stop: asyncio.Event
) -> GradeRecord | None:
    """One grade, at most `gate`'s many at once, none once `stop` is set; its judge requests
    are recorded against the attempt."""
    async with gate:
        if stop.is_set():
            return None
        with requests_for(
            role="judge",
            configuration=attempt.configuration,
            attack=attempt.attack,
            attempt_id=attempt.attempt_id,
        ):
            return await grade_record(attempt, named)


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
        grade_hash=named.fingerprint,
    )


async def regrade(
    store: RunStore,
    graders: Sequence[NamedGrader],
    stop: asyncio.Event,
    budget: Budget | None = None,
    *,
    changed: Collection[str] = (),
    concurrency: int = 8,
) -> Counter[str]:
    """Grade every OK attempt whose grade by one of `graders` is missing or was made by the
    grader before it changed (its fingerprint differs); each batch with its requests.
    Grades without a fingerprint (older stores) are stale only for the raters in `changed`."""
    labels: Counter[str] = Counter()
    gate = asyncio.Semaphore(concurrency)

    def write(graded: Sequence[GradeRecord | None]) -> None:
        batch = [g for g in graded if g is not None]
        store.write_batch((), batch, budget.drain() if budget is not None else ())
        labels.update(g.label for g in batch)

    for named in graders:
        assert named.fingerprint is not None
        pending = []
        stale = store.attempts_to_grade(
            named.rater, named.fingerprint, unknown_is_stale=named.rater in changed
        )
        for attempt in stale:
            if stop.is_set():
                break
            pending.append(grade_gated(attempt, named, gate, stop))
            if len(pending) >= 256:
                write(await asyncio.gather(*pending))
                pending = []
        write(await asyncio.gather(*pending))
    return labels
