"""Providers against the in-repo server over real sockets: normalisation and error mapping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.config import GenerationParams, ModelSpec, RetrySpec
from harness.providers import (
    ChatRequest,
    ConnectionFailed,
    MalformedReply,
    Provider,
    RateLimited,
    RequestRejected,
    RequestTimeout,
    ServerError,
    build_provider,
)
from harness.runner import call_with_retries
from harness.testing import Fault, Rule, ScriptedServer, ToolCall

pytestmark = pytest.mark.anyio

REQUEST = ChatRequest(
    messages=(
        {"role": "system", "content": "Be safe."},
        {"role": "user", "content": "hello there"},
    ),
    params=GenerationParams(temperature=0, max_tokens=32, seed=3),
)
FAST_RETRY = RetrySpec(max_attempts=3, initial_backoff=0.01, max_backoff=0.02)


def make(server: ScriptedServer, kind: str = "openai", **extra: object) -> Provider:
    base = server.base_url if kind == "openai" else server.root_url
    spec = ModelSpec.model_validate(
        {"provider": kind, "model": "scripted", "base_url": base, "timeout": 2.0, **extra}
    )
    return build_provider(spec, api_key="sk-test", base_dir=Path.cwd())


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_reply_is_normalised(server: ScriptedServer, kind: str) -> None:
    server.add_rule(Rule(match="hello", reply="Hi! How can I help?"))
    provider = make(server, kind)
    reply = await provider.complete(REQUEST)
    await provider.aclose()
    assert reply.text == "Hi! How can I help?"
    assert reply.finish_reason == "stop"
    assert reply.usage.prompt_tokens and reply.usage.completion_tokens == 5
    assert reply.latency_s is not None and reply.latency_s > 0
    assert reply.tool_calls == () and reply.error is None


async def test_openai_request_body_and_auth(server: ScriptedServer) -> None:
    provider = make(server, "openai")
    await provider.complete(REQUEST)
    await provider.aclose()
    sent = server.recorded()[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent.body["messages"][0] == {"role": "system", "content": "Be safe."}
    assert sent.body["seed"] == 3 and sent.body["max_tokens"] == 32


async def test_anthropic_moves_system_prompt_out_of_messages(server: ScriptedServer) -> None:
    provider = make(server, "anthropic")
    await provider.complete(REQUEST)
    await provider.aclose()
    sent = server.recorded()[-1]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-test"
    assert sent.headers["anthropic-version"]
    assert sent.body["system"] == "Be safe."
    assert [m["role"] for m in sent.body["messages"]] == ["user"]


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_tool_calls_are_normalised(server: ScriptedServer, kind: str) -> None:
    call = ToolCall(name="send_email", arguments={"to": "a@example.com", "body": "hi"})
    server.add_rule(Rule(match="hello", tool_calls=[call], reply="done"))
    provider = make(server, kind)
    reply = await provider.complete(REQUEST)
    await provider.aclose()
    assert reply.finish_reason == "tool_calls"
    assert [c.name for c in reply.tool_calls] == ["send_email"]
    assert json.loads(reply.tool_calls[0].arguments) == call.arguments


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.http(429, retry_after=7), RateLimited),
        (Fault.http(500), ServerError),
        (Fault.http(503), ServerError),
        (Fault.http(400), RequestRejected),
        (Fault.http(401), RequestRejected),
        (Fault.reset(), ConnectionFailed),
        (Fault.delay(5), RequestTimeout),
        (Fault.invalid_json(), MalformedReply),
        (Fault.no_choices(), MalformedReply),
        (Fault.empty_body(), MalformedReply),
    ],
)
async def test_faults_map_to_typed_errors(
    server: ScriptedServer, kind: str, fault: Fault, error: type[Exception]
) -> None:
    server.add_faults(fault)
    provider = make(server, kind, timeout=0.5)
    with pytest.raises(error) as caught:
        await provider.complete(REQUEST)
    await provider.aclose()
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 7


async def test_server_down_is_a_connection_failure(server: ScriptedServer) -> None:
    server.go_down()
    provider = make(server)
    with pytest.raises(ConnectionFailed):
        await provider.complete(REQUEST)
    await provider.aclose()


async def test_transient_errors_are_retried_until_success(server: ScriptedServer) -> None:
    server.add_faults(Fault.http(503), Fault.reset())
    provider = make(server)
    outcome = await call_with_retries(provider, REQUEST, FAST_RETRY, None)
    await provider.aclose()
    assert outcome.reply is not None and outcome.error is None
    assert outcome.tries == 3
    assert len(server.recorded()) == 3


async def test_retries_are_bounded(server: ScriptedServer) -> None:
    server.add_faults(*[Fault.http(500)] * 5)
    provider = make(server)
    outcome = await call_with_retries(provider, REQUEST, FAST_RETRY, None)
    await provider.aclose()
    assert outcome.reply is None and isinstance(outcome.error, ServerError)
    assert outcome.tries == 3 and len(server.recorded()) == 3


async def test_permanent_errors_are_not_retried(server: ScriptedServer) -> None:
    server.add_faults(Fault.http(400))
    provider = make(server)
    outcome = await call_with_retries(provider, REQUEST, FAST_RETRY, None)
    await provider.aclose()
    assert isinstance(outcome.error, RequestRejected) and outcome.tries == 1


async def test_retry_after_is_honoured(server: ScriptedServer) -> None:
    server.add_faults(Fault.http(429, retry_after=0.6))
    provider = make(server)
    outcome = await call_with_retries(provider, REQUEST, FAST_RETRY, None)
    await provider.aclose()
    first, second = server.recorded()
    assert outcome.reply is not None
    # the backoff alone would wait ~0.01 s; the server asked for 0.6 s
    assert second.received_at - first.received_at >= 0.55


def test_only_https_endpoints_load_the_ca_bundle() -> None:
    import ssl

    from harness.providers import make_transport

    plain = make_transport(2, "http://127.0.0.1:8000/v1").ssl_context  # type: ignore[attr-defined]
    vendor = make_transport(2, None).ssl_context  # type: ignore[attr-defined]
    other = make_transport(2, "https://example.org/v1").ssl_context  # type: ignore[attr-defined]
    # plain http never negotiates TLS; if it did, a context that trusts nothing would refuse it
    assert plain.verify_mode == ssl.CERT_REQUIRED and plain.check_hostname
    assert plain.cert_store_stats()["x509_ca"] == 0
    assert vendor.verify_mode == ssl.CERT_REQUIRED and vendor.cert_store_stats()["x509_ca"] > 0
    assert other is vendor  # loaded once per process
