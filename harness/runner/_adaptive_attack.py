"""Running an adaptive attack (PAIR...) as one attempt.

The attack searches; this module gives it its three calls. The attacker and the judge are
asked through their models' channels (concurrency, rate limits, retries, budgets), and every
prompt the attacker writes is sent to the configuration under test as a one-turn attempt of
its own (`send`: system prompt, safety layer and tools of the deployment included). The
attempt that is stored is the target query the attack names as final, with the whole
trajectory in `attack_trace` and the target model's requests, tries and tokens summed over
every query; the attacker's and judge's counts are in the trajectory.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from harness.attacks import AdaptiveAttack, ModelAnswer, SearchCalls, TargetAnswer
from harness.providers import ChatRequest
from harness.runner._budget import requests_for
from harness.runner._channels import Channel
from harness.runner._plan import WorkItem
from harness.store import AttemptRecord, Status, now_iso

__all__ = ["run_adaptive"]

SendFn = Callable[[WorkItem, Any, str], Awaitable[AttemptRecord]]
FailFn = Callable[[WorkItem, str, str, str], AttemptRecord]


def _ask(
    channel: Channel, role: str
) -> Callable[[tuple[dict[str, str], ...], int], Awaitable[ModelAnswer]]:
    async def ask(messages: tuple[dict[str, str], ...], seed: int) -> ModelAnswer:
        params = channel.spec.params.model_copy(update={"seed": seed})
        # charged to this attempt in the run's request log, as the attacker's or the judge's
        with requests_for(role=role):
            outcome = await channel.complete(ChatRequest(messages, params))
        reply = outcome.reply
        if reply is None:
            error = outcome.error.describe() if outcome.error else "no reply"
            return ModelAnswer(None, error, outcome.tries)
        return ModelAnswer(
            reply.text or "",
            None,
            outcome.tries,
            reply.usage.prompt_tokens or 0,
            reply.usage.completion_tokens or 0,
        )

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
    numbers = itertools.count()  # numbered when sent, not when answered
    single = dataclasses.replace(work, adaptive=None)

    async def target(prompt: str, history: tuple[dict[str, str], ...]) -> TargetAnswer:
        query = next(numbers)
        # earlier exchanges were sent (and screened) live already: now they are history
        sent = dataclasses.replace(single, messages=(*single.messages, *history), turns=(prompt,))
        record = await send(sent, runtime, now_iso())
        records[query] = record
        return TargetAnswer(query, str(record.status), record.response, record.error)

    calls = SearchCalls(
        attacker=_ask(peers[attack.attacker], "attacker"),
        judge=_ask(peers[attack.judge], "judge"),
        target=target,
        seed=work.params.seed or 0,
    )
    result = await attack.search(work.item.prompt, calls)
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
