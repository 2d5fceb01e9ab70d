"""Tests for the real-socket ScriptedServer test double."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.testing import Fault, Rule, ScriptedServer, ToolCall

REPO_ROOT = Path(__file__).resolve().parents[1]
ANTHROPIC_HEADERS = {"x-api-key": "test-key", "anthropic-version": "2023-06-01"}


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as http:
        yield http


def openai_body(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": "gpt-test",
        "messages": [{"role": "system", "content": "be nice"}, {"role": "user", "content": text}],
        "temperature": 0.0,
        "max_tokens": 64,
        **extra,
    }


def anthropic_body(text: str) -> dict[str, Any]:
    return {
        "model": "claude-test",
        "system": "be nice",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
    }


def chat(client: httpx.Client, srv: ScriptedServer, body: dict[str, Any]) -> httpx.Response:
    return client.post(f"{srv.base_url}/chat/completions", json=body)


def messages(client: httpx.Client, srv: ScriptedServer, body: dict[str, Any]) -> httpx.Response:
    return client.post(f"{srv.root_url}/v1/messages", json=body, headers=ANTHROPIC_HEADERS)


def test_openai_reply_shape_and_usage(server: ScriptedServer, client: httpx.Client) -> None:
    resp = chat(client, server, openai_body("hello there world"))
    assert resp.status_code == 200
    data = resp.json()
    assert data["object"] == "chat.completion"
    assert data["model"] == "gpt-test"
    assert isinstance(data["created"], int)
    choice = data["choices"][0]
    assert choice["index"] == 0
    assert choice["message"] == {"role": "assistant", "content": "Echo: hello there world"}
    assert choice["finish_reason"] == "stop"
    assert data["usage"] == {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}


def test_anthropic_reply_shape(server: ScriptedServer, client: httpx.Client) -> None:
    resp = messages(client, server, anthropic_body("hi claude"))
    assert resp.status_code == 200
    data = resp.json()
    assert data["id"].startswith("msg_")
    assert (data["type"], data["role"], data["model"]) == ("message", "assistant", "claude-test")
    assert data["content"] == [{"type": "text", "text": "Echo: hi claude"}]
    assert data["stop_reason"] == "end_turn"
    assert data["stop_sequence"] is None
    assert data["usage"] == {"input_tokens": 4, "output_tokens": 3}
    recorded = server.recorded()[-1]
    assert recorded.path == "/v1/messages"
    assert recorded.headers["x-api-key"] == "test-key"
    assert recorded.last_user_text == "hi claude"


def test_custom_default_reply_and_rule_reply(client: httpx.Client) -> None:
    rules = [Rule(match="secret", reply="I cannot help with that.", finish_reason="length")]
    with ScriptedServer(default_reply=str.upper, rules=rules) as srv:
        assert chat(client, srv, openai_body("abc")).json()["choices"][0]["message"]["content"] == (
            "ABC"
        )
        choice = chat(client, srv, openai_body("tell me the secret")).json()["choices"][0]
        assert choice["message"]["content"] == "I cannot help with that."
        assert choice["finish_reason"] == "length"
        data = messages(client, srv, anthropic_body("the secret")).json()
        assert data["stop_reason"] == "max_tokens"


def test_openai_tool_calls_then_text_after_tool_result(client: httpx.Client) -> None:
    rule = Rule(
        match="weather", reply="It is sunny.", tool_calls=[ToolCall("get_weather", {"c": 1})]
    )
    with ScriptedServer(rules=[rule]) as srv:
        first = chat(client, srv, openai_body("what's the weather?")).json()["choices"][0]
        assert first["finish_reason"] == "tool_calls"
        call = first["message"]["tool_calls"][0]
        assert call["type"] == "function"
        assert call["function"]["name"] == "get_weather"
        assert json.loads(call["function"]["arguments"]) == {"c": 1}
        body = openai_body("what's the weather?")
        body["messages"] += [
            first["message"],
            {"role": "tool", "tool_call_id": call["id"], "content": "sunny"},
        ]
        second = chat(client, srv, body).json()["choices"][0]
        assert second["finish_reason"] == "stop"
        assert second["message"] == {"role": "assistant", "content": "It is sunny."}


def test_anthropic_tool_use_then_text_after_tool_result(client: httpx.Client) -> None:
    rule = Rule(match="weather", reply="Sunny.", tool_calls=[ToolCall("get_weather", {"c": 1})])
    with ScriptedServer(rules=[rule]) as srv:
        first = messages(client, srv, anthropic_body("weather please")).json()
        assert first["stop_reason"] == "tool_use"
        [block] = first["content"]
        assert (block["type"], block["name"], block["input"]) == (
            "tool_use",
            "get_weather",
            {"c": 1},
        )
        body = anthropic_body("weather please")
        result = {"type": "tool_result", "tool_use_id": block["id"], "content": "sunny"}
        body["messages"] += [
            {"role": "assistant", "content": first["content"]},
            {"role": "user", "content": [result]},
        ]
        second = messages(client, srv, body).json()
        assert second["stop_reason"] == "end_turn"
        assert second["content"] == [{"type": "text", "text": "Sunny."}]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_status_faults_openai(server: ScriptedServer, client: httpx.Client, status: int) -> None:
    server.add_faults(Fault.http(status, retry_after=1) if status == 429 else Fault.http(status))
    resp = chat(client, server, openai_body("x"))
    assert resp.status_code == status
    assert "message" in resp.json()["error"]
    assert ("retry-after" in resp.headers) == (status == 429)
    if status == 429:
        assert float(resp.headers["retry-after"]) == 1.0
    assert chat(client, server, openai_body("x")).status_code == 200


def test_status_fault_anthropic_shape(server: ScriptedServer, client: httpx.Client) -> None:
    server.add_faults(Fault.http(429, retry_after=0.5), Fault.http(529))
    first = messages(client, server, anthropic_body("x"))
    assert first.status_code == 429
    assert first.headers["retry-after"] == "0.5"
    assert first.json()["type"] == "error"
    assert first.json()["error"]["type"] == "rate_limit_error"
    assert messages(client, server, anthropic_body("x")).json()["error"]["type"] == (
        "overloaded_error"
    )


def test_reset_fault_raises_transport_error(server: ScriptedServer, client: httpx.Client) -> None:
    server.add_faults(Fault.reset())
    with pytest.raises(httpx.TransportError):
        chat(client, server, openai_body("x"))
    assert chat(client, server, openai_body("x")).status_code == 200


def test_delay_fault_triggers_client_timeout(server: ScriptedServer) -> None:
    server.add_faults(Fault.delay(2.0))
    with httpx.Client(timeout=0.2) as http, pytest.raises(httpx.ReadTimeout):
        chat(http, server, openai_body("x"))


def test_short_delay_then_normal_reply(server: ScriptedServer, client: httpx.Client) -> None:
    server.add_faults(Fault.delay(0.1))
    started = time.monotonic()
    resp = chat(client, server, openai_body("x"))
    assert resp.status_code == 200
    assert time.monotonic() - started >= 0.1


def test_malformed_body_faults(server: ScriptedServer, client: httpx.Client) -> None:
    server.add_faults(Fault.invalid_json(), Fault.no_choices(), Fault.empty_body())
    html = chat(client, server, openai_body("x"))
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    with pytest.raises(ValueError):
        html.json()
    assert chat(client, server, openai_body("x")).json() == {"id": "x", "object": "chat.completion"}
    empty = chat(client, server, openai_body("x"))
    assert (empty.status_code, empty.content) == (200, b"")


def test_no_choices_anthropic_has_no_content(server: ScriptedServer, client: httpx.Client) -> None:
    server.add_faults(Fault.no_choices())
    data = messages(client, server, anthropic_body("x")).json()
    assert "content" not in data


def test_global_faults_consumed_in_order(client: httpx.Client) -> None:
    faults = [Fault.http(500), Fault.http(429), Fault.http(503)]
    with ScriptedServer(faults=faults) as srv:
        statuses = [chat(client, srv, openai_body("x")).status_code for _ in range(5)]
    assert statuses == [500, 429, 503, 200, 200]


def test_rule_faults_only_hit_matching_requests(client: httpx.Client) -> None:
    rule = Rule(match="flaky", faults=[Fault.http(500), Fault.http(502)], reply="ok")
    with ScriptedServer(rules=[rule]) as srv:
        assert chat(client, srv, openai_body("stable")).status_code == 200
        codes = [chat(client, srv, openai_body("flaky one")).status_code for _ in range(3)]
        assert codes == [500, 502, 200]
    assert len(rule.faults) == 2, "the caller's Rule must not be mutated"


def test_go_down_and_come_back_on_same_port(server: ScriptedServer, client: httpx.Client) -> None:
    port = server.port
    assert chat(client, server, openai_body("x")).status_code == 200
    server.go_down()
    with pytest.raises(httpx.ConnectError):
        chat(client, server, openai_body("x"))
    server.come_back()
    assert server.port == port
    assert chat(client, server, openai_body("x")).status_code == 200


def test_count_and_reset_log(server: ScriptedServer, client: httpx.Client) -> None:
    for text in ("alpha one", "alpha two", "beta"):
        chat(client, server, openai_body(text))
    messages(client, server, anthropic_body("alpha three"))
    assert server.count("alpha") == 3
    assert server.count("beta") == 1
    assert len(server.requests) == 4
    server.reset_log()
    assert server.count("alpha") == 0


def test_moderation_endpoint(server: ScriptedServer, client: httpx.Client) -> None:
    url = f"{server.base_url}/moderations"
    resp = client.post(url, json={"input": ["harmless", "please MODERATE_ME now"]})
    results = resp.json()["results"]
    assert [r["flagged"] for r in results] == [False, True]
    assert results[0]["category_scores"]["violence"] == 0.0
    assert results[1]["categories"]["violence"] is True
    assert results[1]["category_scores"]["violence"] == pytest.approx(0.99)


def test_health(server: ScriptedServer, client: httpx.Client) -> None:
    resp = client.get(f"{server.root_url}/health")
    assert (resp.status_code, resp.text) == (200, "ok")


def test_concurrent_requests_are_not_serialized(client: httpx.Client) -> None:
    # a behavioural check, not a speed target: with 1 s of latency per reply, serialised
    # handling would spread the arrivals of 8 parallel requests over 7 s or more
    with ScriptedServer(latency=1.0) as srv, ThreadPoolExecutor(8) as pool:
        codes = list(
            pool.map(lambda i: chat(client, srv, openai_body(str(i))).status_code, range(8))
        )
        arrivals = [r.received_at for r in srv.recorded()]
    assert codes == [200] * 8
    assert max(arrivals) - min(arrivals) < 1.0


def _read_ready_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise TimeoutError("server process did not print READY")
    return proc.stdout.readline().strip()


def test_cli_subprocess_serves_and_stops_on_sigterm(client: httpx.Client) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    cmd = [sys.executable, "-m", "harness.testing", "--port", "0", "--latency", "0.01", "--no-log"]
    with subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True) as proc:
        try:
            line = _read_ready_line(proc, timeout=10.0)
            assert line.startswith("READY http://127.0.0.1:") and line.endswith("/v1")
            base = line.removeprefix("READY ")
            resp = client.post(f"{base}/chat/completions", json=openai_body("ping"))
            assert resp.json()["choices"][0]["message"]["content"] == "Echo: ping"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=5.0) == 0
        finally:
            # Never leak a server process if an assertion above failed.
            if proc.poll() is None:
                proc.kill()
