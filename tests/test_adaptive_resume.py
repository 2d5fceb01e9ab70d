"""An adaptive attack killed mid-search (SIGKILL) resumes from its stored steps: no stored step
is sent again, and the trajectory is the one an uninterrupted run takes."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from test_adaptive_attacks import REFUSAL, crescendo, proposal, question, write_pair_config

from harness.config import load_config
from harness.runner import RunOptions
from harness.runner import run_experiment as run
from harness.store import AttemptRecord, RunStore
from harness.testing import Fault, Rule, ScriptedServer

QUIET = RunOptions(progress=False)
SUCCESS_AT = 4  # the target gives in to the 4th prompt of a chain


def reply(text: str) -> str:
    """Every model of the search, by what it was last told, and nothing else (no state: the
    killed run, its resumption and the uninterrupted run meet the same server).

    The attacker's n-th prompt is `Pn` (Crescendo: `Qn`, after a refusal `Qnb`); the target
    answers `NO-n`, and `YES-n` from the 4th on; Crescendo's target refuses `Q2` once. The
    judge rates `NO-n` n and `YES` 10."""
    if found := re.search(r"\[ASSISTANT'S RESPONSE\]: (\S+)", text):
        answer = found.group(1)
        if answer.startswith("YES"):
            return "Rating: [[10]]"
        if answer.startswith("I cannot"):
            return "Rating: [[1]]"
        return f"Rating: [[{min(int(re.sub(r'[^0-9]', '', answer)), 9)}]]"
    if "REPLY TO CHECK: " in text:
        return "[[YES]]" if f"REPLY TO CHECK: {REFUSAL}" in text else "[[NO]]"
    if "PROMPT TO CHECK: " in text:
        return "[[YES]]"
    if found := re.search(r"The question it refused was: Q(\d+)", text):
        return question(f"Q{found.group(1)}b")
    if found := re.search(r"This is turn (\d+) of", text):
        return question(f"Q{found.group(1)}")
    if found := re.search(r"LANGUAGE MODEL OUTPUT: NO-(\d+)", text):
        return proposal(f"P{int(found.group(1)) + 1}", "closer")
    if "Begin." in text:
        return proposal("P1")
    if found := re.fullmatch(r"([PQ])(\d+)(b?)", text.strip()):
        kind, n, after_refusal = found.group(1), int(found.group(2)), found.group(3)
        if kind == "Q" and n == 2 and not after_refusal:
            return REFUSAL
        return f"{'YES' if n >= SUCCESS_AT else 'NO'}-{n}{after_refusal}"
    raise AssertionError(f"unscripted request: {text[:200]}")


PAIR: dict[str, Any] = {"name": "pair", "kind": "pair", "options": {
    "attacker": "attacker", "judge": "judge", "n_streams": 3, "n_iterations": 6}}  # fmt: skip
TAP: dict[str, Any] = {"name": "tap", "kind": "tap", "options": {
    "attacker": "attacker", "judge": "judge", "branching_factor": 2, "width": 2, "depth": 6,
}}  # fmt: skip
# attacker, target, refusal check and rating per turn; turn 2 refused once and backtracked
CRESCENDO = crescendo(max_turns=6, max_backtracks=2)

# (attack, stored steps before the kill, what the search does: requests by model)
CASES = [
    # 4 rounds of 3 streams: attacker, target, judge each
    pytest.param(PAIR, 8, {"a": 12, "t": 12, "j": 12}, id="pair"),
    # 2 + 4 + 4 + 4 children (2 pruned low_score per level): attacker, topic + rating, target
    pytest.param(TAP, 14, {"a": 14, "t": 14, "j": 28}, id="tap"),
    # turns 1-4 and the backtracked turn 2: attacker, target; 5 refusal checks + 4 ratings
    pytest.param(CRESCENDO, 7, {"a": 5, "t": 5, "j": 9}, id="crescendo"),
]


def patient(config: Path) -> Path:
    """No timeout (and so no retry) on a busy machine: every request is sent once, or it is a
    repeat the test must see."""
    data = yaml.safe_load(config.read_text())
    for model in data["models"].values():
        model["timeout"] = 120
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


def request_key(body: dict[str, Any]) -> str:
    return json.dumps([body["model"], body["messages"], body.get("seed")], sort_keys=True)


def stored_steps(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM attack_steps").fetchone()[0])
    except sqlite3.OperationalError:  # the schema is not created yet
        return 0


def start(config: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "HARNESS_LOAD_PLUGINS": ""}
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(config), "--no-report", "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def the_attempt(run_dir: Path) -> AttemptRecord:
    with RunStore(run_dir) as store:
        assert store.integrity_check() == "ok"
        (attempt,) = store.iter_attempts()
    return attempt


@pytest.mark.parametrize(("attack", "kill_after", "requests"), CASES)
def test_a_search_killed_mid_way_resumes_from_its_stored_steps(
    tmp_path: Path, attack: dict[str, Any], kill_after: int, requests: dict[str, int]
) -> None:
    for part in ("whole", "killed"):
        (tmp_path / part).mkdir()
    # the reference: the same search, never interrupted
    with ScriptedServer(default_reply=reply) as server:
        config = write_pair_config(tmp_path / "whole", server, attacks=[attack])
        anyio.run(lambda: run(load_config(config), options=QUIET))
        reference = [request_key(r.body) for r in server.recorded()]
        sent_by_model = Counter(r.body["model"] for r in server.recorded())
    whole = the_attempt(tmp_path / "whole" / "run")
    trace = json.loads(whole.attack_trace or "")
    assert trace["success"] is True and trace["queries_to_success"] == requests["t"]
    assert sent_by_model == requests

    with ScriptedServer(default_reply=reply, latency=0.1) as server:
        config = patient(write_pair_config(tmp_path / "killed", server, attacks=[attack]))
        db = tmp_path / "killed" / "run" / "store.sqlite"
        process = start(config)
        deadline = time.monotonic() + 60
        while stored_steps(db) < kill_after:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no step stored within 60 s"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.communicate()  # waits, and closes its pipes
        sent_before = len(server.recorded())
        steps = stored_steps(db)
        with RunStore(db.parent) as store:
            assert store.integrity_check() == "ok" and store.count_attempts() == 0
        # killed mid-search, with steps both stored and still to come
        assert kill_after <= steps < len(reference)

        resumed = start(config)
        _, err = resumed.communicate(timeout=120)
        assert resumed.returncode == 0, err
        after = [request_key(r.body) for r in server.recorded()[sent_before:]]

    # every stored step was answered from the store, everything else was sent (what was in
    # flight at the kill, unstored, once more): no request the search would not make
    assert not Counter(after) - Counter(reference), Counter(after) - Counter(reference)
    assert len(after) == len(reference) - steps
    attempt = the_attempt(tmp_path / "killed" / "run")
    assert json.loads(attempt.attack_trace or "") == trace
    assert (attempt.status, attempt.response, attempt.messages) == (
        whole.status,
        whole.response,
        whole.messages,
    )
    assert (attempt.model_calls, attempt.tries, attempt.prompt_tokens) == (
        whole.model_calls,
        whole.tries,
        whole.prompt_tokens,
    )
    # what was spent is counted once per request sent and stored with its step or attempt
    with RunStore(db.parent) as store:
        spent = sum(tries for _, tries, _, _ in store.spending())
    assert len(reference) <= spent <= sent_before + len(after)


@pytest.mark.anyio
async def test_retrying_a_failed_search_sends_only_what_was_not_answered(tmp_path: Path) -> None:
    # the attacker's third-round request fails twice (all its tries): the attempt is an ERROR
    fail = Rule(match="LANGUAGE MODEL OUTPUT: NO-2", faults=[Fault.http(500), Fault.http(500)])
    pair = {**PAIR, "options": {**PAIR["options"], "n_streams": 1}}
    with ScriptedServer(default_reply=reply, rules=[fail]) as server:
        config = write_pair_config(tmp_path, server, attacks=[pair])
        summary, run_dir = await run(load_config(config), options=QUIET)
        assert summary.error_kinds == {"attacker_error": 1}
        first = len(server.recorded())
        assert first == 2 * 3 + 2  # two rounds, then the failing tries
        summary, _ = await run(
            load_config(config), options=RunOptions(progress=False, retry_errors=True)
        )
        again = [r.body["model"] for r in server.recorded()[first:]]
    assert summary.statuses == {"OK": 1}
    # rounds 1 and 2 came from the store; rounds 3 and 4 were sent
    assert Counter(again) == {"a": 2, "t": 2, "j": 2}
    trace = json.loads(the_attempt(run_dir).attack_trace or "")
    assert trace["success_iteration"] == 4 and trace["queries"]["attacker"] == 4
    # the failed request is not counted as a query of the search, but its tries were spent
    with RunStore(run_dir) as store:
        assert sum(t for _, t, _, _ in store.spending()) == first + len(again)


@pytest.mark.anyio
async def test_the_global_budget_stops_a_search_that_resumes_when_it_is_raised(
    tmp_path: Path,
) -> None:
    with ScriptedServer(default_reply=reply) as server:
        config = write_pair_config(tmp_path, server, attacks=[PAIR])
        data = yaml.safe_load(config.read_text())
        data["budget"] = {"max_requests": 10}
        config.write_text(yaml.safe_dump(data, sort_keys=False))
        summary, run_dir = await run(load_config(config), options=QUIET)
        assert summary.budget_exhausted and "max_requests 10" in summary.budget_exhausted
        before = len(server.recorded())
        with RunStore(run_dir) as store:
            assert store.count_attempts() == 0  # stopped mid-search: nothing graded yet
            steps = len(store.attack_steps(*_only_search(store)))
            spent = sum(tries for _, tries, _, _ in store.spending())
        # the stop comes as the 10th request is charged: what was in flight finishes
        assert 10 <= spent <= before and steps <= spent
        data["budget"] = {"max_requests": 100}
        config.write_text(yaml.safe_dump(data, sort_keys=False))
        # a changed config needs --force; it re-sends only attempts whose requests changed
        summary, _ = await run(load_config(config), force=True, options=QUIET)
        after = len(server.recorded()) - before
    assert summary.statuses == {"OK": 1} and summary.budget_exhausted is None
    assert after == 36 - steps  # PAIR's 36 requests (see CASES), less those stored
    trace = json.loads(the_attempt(run_dir).attack_trace or "")
    assert trace["success_iteration"] == 4 and trace["queries"] == {
        "target": 12,
        "attacker": 12,
        "judge": 12,
    }


def _only_search(store: RunStore) -> tuple[str, str]:
    with sqlite3.connect(store.path) as db:
        ((attempt_id, request_hash),) = db.execute(
            "SELECT DISTINCT attempt_id, request_hash FROM attack_steps"
        ).fetchall()
    return str(attempt_id), str(request_hash)
