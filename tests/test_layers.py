"""Safety layers against the in-repo server: input and output guards of every kind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import write_config

from harness import ConfigError
from harness.config import load_config
from harness.layers import parse_json_verdict, parse_llama_guard
from harness.runner import RunOptions, run_experiment
from harness.store import AttemptRecord, RunStore
from harness.testing import Fault, Rule, ScriptedServer

pytestmark = pytest.mark.anyio
QUIET = RunOptions(progress=False)
GUARD_TASK = "Task: Check if there is unsafe content"


def guarded(layer: dict[str, Any]) -> dict[str, Any]:
    return {"guarded": {"safety_layer": layer}}


async def run(
    tmp: Path, server: ScriptedServer, layer: dict[str, Any], **extra: Any
) -> dict[str, AttemptRecord]:
    path = write_config(tmp, server, n_items=4, deployments=guarded(layer), **extra)
    _, run_dir = await run_experiment(load_config(path), options=QUIET)
    with RunStore(run_dir) as store:
        return {a.prompt.split()[0]: a for a in store.iter_attempts()}


def events(attempt: AttemptRecord) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(attempt.guard_events or "[]")
    return found


def model_requests(server: ScriptedServer) -> list[str]:
    return [r.last_user_text for r in server.recorded() if GUARD_TASK not in r.last_user_text]


async def test_keyword_input_guard_blocks_before_the_model_sees_it(
    tmp_path: Path, server: ScriptedServer
) -> None:
    layer = {
        "input": [{"kind": "keywords", "patterns": [r"item-00[12]"]}],
        "refusal_text": "Blocked by policy.",
    }
    attempts = await run(tmp_path, server, layer)
    blocked = {k for k, a in attempts.items() if a.status == "BLOCKED_INPUT"}
    assert blocked == {"[item-001]", "[item-002]"}
    assert all(attempts[k].response == "Blocked by policy." for k in blocked)
    assert all(k not in text for k in blocked for text in model_requests(server))
    event = events(attempts["[item-001]"])[0]
    assert (event["stage"], event["decision"], event["failed"]) == ("input", "block", False)
    assert event["categories"] == ["item-00[12]"] and event["latency_s"] >= 0
    assert attempts["[item-000]"].status == "OK" and attempts["[item-000]"].model_calls == 1


async def test_output_guard_keeps_the_unfiltered_reply(
    tmp_path: Path, server: ScriptedServer
) -> None:
    server.add_rule(Rule(match="[item-003]", reply="Sure, here is the dangerous recipe."))
    layer = {"output": [{"kind": "keywords", "phrases": ["dangerous recipe"]}]}
    attempts = await run(tmp_path, server, layer)
    attempt = attempts["[item-003]"]
    assert attempt.status == "BLOCKED_OUTPUT"
    assert attempt.raw_response == "Sure, here is the dangerous recipe."
    assert attempt.response == "I'm sorry, but I can't help with that request."
    assert events(attempt)[0]["stage"] == "output"
    assert {a.status for k, a in attempts.items() if k != "[item-003]"} == {"OK"}


def guard_model_reply(verdicts: dict[str, str]) -> Any:
    def reply(text: str) -> str:
        if GUARD_TASK not in text:
            return "Echo: " + text
        return next((v for k, v in verdicts.items() if k in text), "safe")

    return reply


async def test_model_guard_parses_llama_guard_output(tmp_path: Path) -> None:
    verdicts = {"[item-000]": "unsafe\nS1, S9", "[item-001]": "safe"}
    with ScriptedServer(default_reply=guard_model_reply(verdicts)) as server:
        layer = {"input": [{"kind": "model", "model": "m"}]}
        attempts = await run(tmp_path, server, layer)
    assert attempts["[item-000]"].status == "BLOCKED_INPUT"
    assert events(attempts["[item-000]"])[0]["categories"] == ["S1", "S9"]
    assert attempts["[item-001]"].status == "OK"


@pytest.mark.parametrize(("on_error", "status"), [("block", "BLOCKED_INPUT"), ("allow", "OK")])
async def test_a_failing_guard_applies_on_error(tmp_path: Path, on_error: str, status: str) -> None:
    verdicts = {"[item-000]": "I am not sure what you mean"}  # unparseable guard output
    with ScriptedServer(default_reply=guard_model_reply(verdicts)) as server:
        server.add_rule(Rule(match="User: [item-001]", faults=[Fault.http(500)] * 9))
        layer = {"input": [{"kind": "model", "model": "m"}], "on_error": on_error}
        attempts = await run(tmp_path, server, layer)
    unparseable = events(attempts["[item-000]"])[0]
    assert attempts["[item-000]"].status == status
    assert unparseable["failed"] and unparseable["error"] == "unparseable guard reply"
    assert unparseable["decision"] == on_error and "not sure" in unparseable["raw"]
    # an erroring guard call went through the model's retries before failing
    errored = events(attempts["[item-001]"])[0]
    assert errored["failed"] and errored["error"] and errored["decision"] == on_error


async def test_guard_requests_use_the_runner_retries(tmp_path: Path) -> None:
    verdicts = {"[item-002]": "unsafe\nS2"}
    with ScriptedServer(default_reply=guard_model_reply(verdicts)) as server:
        server.add_rule(Rule(match="[item-002]", faults=[Fault.http(503)]))
        attempts = await run(tmp_path, server, {"input": [{"kind": "model", "model": "m"}]})
        guard_calls = [r for r in server.recorded() if "[item-002]" in r.last_user_text]
    assert attempts["[item-002]"].status == "BLOCKED_INPUT"
    assert len(guard_calls) == 2  # one 503, one retry


async def test_moderation_guard_uses_thresholds(tmp_path: Path, server: ScriptedServer) -> None:
    server.add_rule(Rule(match="[item-001]", reply="MODERATE_ME please"))
    layer = {
        "output": [
            {"kind": "moderation", "base_url": server.base_url, "thresholds": {"violence": 0.9}}
        ]
    }
    attempts = await run(tmp_path, server, layer)
    assert attempts["[item-001]"].status == "BLOCKED_OUTPUT"
    assert events(attempts["[item-001]"])[0]["categories"] == ["violence"]
    assert attempts["[item-000]"].status == "OK"
    assert any(r.path == "/v1/moderations" for r in server.recorded())


def test_guard_output_parsers() -> None:
    assert parse_llama_guard("safe") == (False, ())
    assert parse_llama_guard(" unsafe\nS1,S10 ") == (True, ("S1", "S10"))
    assert parse_llama_guard("I think it is fine") is None
    assert parse_json_verdict('x {"verdict": "unsafe", "categories": ["fraud"]}') == (
        True,
        ("fraud",),
    )
    assert parse_json_verdict('{"flagged": false}') == (False, ())
    assert parse_json_verdict("no json") is None


@pytest.mark.parametrize(
    ("layer", "field", "message"),
    [
        ({"input": [{"kind": "model", "model": "nope"}]}, "deployments", "undefined model 'nope'"),
        (
            {"input": [{"kind": "model", "model": "m", "template": "Judge {content} {oops}"}]},
            "deployments.guarded.safety_layer.input[0].template",
            "unknown placeholder {oops}",
        ),
        (
            {"input": [{"kind": "keywords"}]},
            "deployments.guarded.safety_layer.input[0]",
            "needs phrases or patterns",
        ),
        (
            {"input": [{"kind": "keywords", "patterns": ["("]}]},
            "deployments.guarded.safety_layer.input[0].patterns",
            "invalid regular expression",
        ),
        ({}, "deployments.guarded.safety_layer", "at least one input or output guard"),
    ],
)
async def test_bad_guard_config_names_the_field(
    tmp_path: Path, server: ScriptedServer, layer: dict[str, Any], field: str, message: str
) -> None:
    path = write_config(tmp_path, server, n_items=1, deployments=guarded(layer))
    with pytest.raises(ConfigError) as caught:
        await run_experiment(load_config(path), options=QUIET)
    assert field in str(caught.value) and message in str(caught.value)
