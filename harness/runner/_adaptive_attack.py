"""Running an adaptive attack (PAIR...) as one attempt.

The attack searches; this module gives it its three calls. The attacker and the judge are
asked through their models' channels (concurrency, rate limits, retries, budgets), and every
prompt the attacker writes is sent to the configuration under test as a one-turn attempt of
its own (`send`: system prompt, safety layer and tools of the deployment included). The
attempt that is stored is the target query the attack names as final, with the whole
trajectory in `attack_trace` and the target model's requests, tries and tokens summed over
every query; the attacker's and judge's counts are in the trajectory.

Each answer the search receives is stored as it comes (`attack_steps`, through the run's
`StepLog`), keyed by the step it answers. A search interrupted mid-way (a kill, a crash, a
budget) starts again from the beginning when resumed, but every stored step is answered from
the store instead of being sent: the search takes the same path (its streams, tree, turns,
backtracks, counts) up to where it stopped, and only then sends. Failed requests are not
stored: `--retry-errors` sends them again.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

from harness.attacks import AdaptiveAttack, AskFn, ModelAnswer, SearchCalls, TargetAnswer
from harness.providers import ChatRequest
from harness.runner._budget import requests_for
from harness.runner._channels import Channel
from harness.runner._plan import WorkItem
from harness.store import AttackStep, AttemptRecord, Status, now_iso

__all__ = ["StepLog", "recording_steps", "run_adaptive"]

log = logging.getLogger("harness.runner")

SendFn = Callable[[WorkItem, Any, str], Awaitable[AttemptRecord]]
FailFn = Callable[[WorkItem, str, str, str], AttemptRecord]


class StepLog(Protocol):
    """Where the steps of searches are stored (the run's store, through its writer)."""

    async def load_steps(self, attempt_id: str, request_hash: str) -> dict[str, str]: ...

    async def save_step(self, step: AttackStep) -> None: ...


# set by the runner around its workers: asyncio copies it into every task
_STEPS: ContextVar[StepLog | None] = ContextVar("harness_attack_steps", default=None)


@contextmanager
def recording_steps(steps: StepLog) -> Iterator[None]:
    """Searches run inside the block store their steps in `steps`, and resume from them."""
    token = _STEPS.set(steps)
    try:
        yield
    finally:
        _STEPS.reset(token)


class _Journal:
    """One search's stored steps: replayed by key, and new ones saved as they come."""

    def __init__(self, work: WorkItem, steps: StepLog | None, stored: dict[str, str]) -> None:
        self._work = work
        self._steps = steps
        self._stored = stored
        self.replayed = 0

    @classmethod
    async def open(cls, work: WorkItem) -> _Journal:
        steps = _STEPS.get()
        stored = await steps.load_steps(work.attempt_id, work.request_hash) if steps else {}
        return cls(work, steps, stored)

    def replay(self, key: str) -> str | None:
        answer = self._stored.get(key)
        self.replayed += answer is not None
        return answer

    async def save(self, key: str, role: str, answer: str) -> None:
        if self._steps is None:
            return
        work = self._work
        step = AttackStep(work.attempt_id, work.request_hash, key, role, answer, now_iso())
        await self._steps.save_step(step)


def _ask(channel: Channel, role: str, journal: _Journal) -> AskFn:
    async def ask(
        messages: tuple[dict[str, str], ...],
        seed: int,
        key: str,
        *,
        schema: Mapping[str, Any] | None = None,
        choices: tuple[str, ...] = (),
    ) -> ModelAnswer:
        stored = journal.replay(key)
        if stored is not None:
            return ModelAnswer(**json.loads(stored))
        params = channel.spec.params.model_copy(update={"seed": seed})
        request = ChatRequest(messages, params, answer_choices=choices, response_schema=schema)
        # charged to this attempt in the run's request log, as the attacker's or the judge's
        with requests_for(role=role):
            outcome = await channel.complete(request)
        reply = outcome.reply
        if reply is None:
            error = outcome.error.describe() if outcome.error else "no reply"
            return ModelAnswer(None, error, outcome.tries)  # not stored: a retry sends it
        answer = ModelAnswer(
            reply.text or "",
            None,
            outcome.tries,
            reply.usage.prompt_tokens or 0,
            reply.usage.completion_tokens or 0,
        )
        await journal.save(key, role, json.dumps(dataclasses.asdict(answer)))
        return answer

    return ask


async def run_adaptive(
    work: WorkItem,
    runtime: Any,  # ConfigurationRuntime: typed loosely, its module imports this one
    peers: Mapping[str, Channel],
    started_at: str,
    send: SendFn,
    fail: FailFn,
) -> AttemptRecord:
    attack: AdaptiveAttack | None = work.adaptive
    assert attack is not None
    missing = [m for m in (attack.attacker, attack.judge) if m not in peers]
    if missing:  # the config's validation makes this a bug, never a user's mistake
        return fail(work, f"no channel for model(s) {', '.join(missing)}", "internal", started_at)
    records: dict[int, AttemptRecord] = {}
    single = dataclasses.replace(work, adaptive=None)
    journal = await _Journal.open(work)

    async def target(prompt: str, history: tuple[dict[str, str], ...], query: int) -> TargetAnswer:
        key = f"target.{query}"
        stored = journal.replay(key)
        if stored is not None:
            record = _attempt_from_json(stored)
        else:
            # earlier exchanges were sent (and screened) live already: now they are history
            sent = dataclasses.replace(
                single, messages=(*single.messages, *history), turns=(prompt,)
            )
            record = await send(sent, runtime, now_iso())
            if record.status is not Status.ERROR:  # an error is sent again by a retry
                await journal.save(key, "target", _attempt_json(record))
        records[query] = record
        return TargetAnswer(query, str(record.status), record.response, record.error)

    calls = SearchCalls(
        attacker=_ask(peers[attack.attacker], "attacker", journal),
        judge=_ask(peers[attack.judge], "judge", journal),
        target=target,
        seed=work.params.seed or 0,
    )
    result = await attack.search(work.item.prompt, calls)
    if journal.replayed:
        log.info(
            "%s: search resumed, %d stored steps not sent again", work.attempt_id, journal.replayed
        )
    trace = json.dumps(result.trace, ensure_ascii=False, default=str)
    if result.final_query is None:
        # no prompt reached the target: nothing to grade, so never a success or a refusal
        kind = result.error_kind or "attacker_unparseable"
        why = result.error or "no attacker reply could be parsed into a prompt"
        return dataclasses.replace(fail(work, why, kind, started_at), attack_trace=trace)
    final = records[result.final_query]
    sent = list(records.values())
    calls_made = sum(r.model_calls for r in sent)
    update: dict[str, Any] = {
        "request_hash": work.request_hash,
        "attack_trace": trace,
        "model_calls": calls_made,
        "tries": sum(r.tries for r in sent),
        "latency_s": sum(r.latency_s or 0.0 for r in sent) if calls_made else None,
        "prompt_tokens": sum(r.prompt_tokens or 0 for r in sent) if calls_made else None,
        "completion_tokens": sum(r.completion_tokens or 0 for r in sent) if calls_made else None,
        "started_at": started_at,
        "finished_at": now_iso(),
    }
    if result.stopped == "max_queries":
        update["finish_reason"] = "max_queries"
    if result.error is not None and final.status is not Status.ERROR:
        # an attacker or judge failure ends the attempt as an error: retried with the errors
        update |= {
            "status": Status.ERROR,
            "error": result.error,
            "error_kind": result.error_kind,
        }
    return dataclasses.replace(final, **update)


def _attempt_json(record: AttemptRecord) -> str:
    return json.dumps(dataclasses.asdict(record), ensure_ascii=False)


def _attempt_from_json(text: str) -> AttemptRecord:
    values = json.loads(text)
    return AttemptRecord(**{**values, "status": Status(values["status"])})
