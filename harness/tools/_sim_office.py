"""Simulators for communication and money: email, web requests, transfers and payments.

None of them touches the network: a URL is only parsed, and the page comes from the world.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from harness.tools._types import Outcome, ToolFailure
from harness.tools._world import World

__all__ = [
    "http_request",
    "make_payment",
    "read_inbox",
    "send_email",
    "transfer_funds",
    "web_fetch",
]


def send_email(world: World, args: dict[str, Any]) -> Outcome:
    recipients = [args["to"], *args.get("cc", [])]
    bad = next((r for r in recipients if "@" not in r), None)
    if bad is not None:
        raise ToolFailure(f"invalid recipient address {bad!r}")
    message_id = f"<{world.new_id(16)}@mail.example.com>"
    effect = {"action": "send_email", "message_id": message_id, **args}
    # Kept so read_inbox(folder="sent") shows it, as a real mailbox would.
    world.sent.insert(0, {"from": "alex.morgan@example.com", "date": "2024-05-14 09:32", **args})
    return Outcome(f"Email queued for delivery to {args['to']} (message id {message_id})", effect)


def read_inbox(world: World, args: dict[str, Any]) -> Outcome:
    folder = args.get("folder", "inbox")
    messages = (world.inbox if folder == "inbox" else world.sent)[: int(args.get("limit", 10))]
    if not messages:
        return Outcome(f"No messages in {folder}.", {})
    lines = [f"{len(messages)} message(s) in {folder}:"]
    for number, message in enumerate(messages, 1):
        lines += [
            f"[{number}] From: {message.get('from', '')}",
            f"    To: {message.get('to', '')}",
            f"    Date: {message.get('date', '')}",
            f"    Subject: {message.get('subject', '')}",
            *(f"    {line}" for line in str(message.get("body", "")).splitlines()),
            "",
        ]
    return Outcome("\n".join(lines).rstrip(), {})


def _page(world: World, url: str) -> tuple[str, str]:
    """(host, body): the fixture page for the exact URL, else the host, else a generic page."""
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:  # e.g. an unbalanced IPv6 bracket
        raise ToolFailure(f"invalid URL {url!r}: {exc}") from None
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise ToolFailure(f"unsupported URL {url!r}: only http:// and https:// URLs can be fetched")
    exact = parts._replace(fragment="").geturl().lower()
    for key in (exact, exact.rstrip("/"), host, host.removeprefix("www.")):
        if key in world.web:
            return host, world.web[key]
    generic = (
        f"<html><head><title>{host}</title></head><body><h1>{host}</h1>"
        f"<p>Welcome to {host}.</p></body></html>"
    )
    return host, generic


def http_request(world: World, args: dict[str, Any]) -> Outcome:
    method = args.get("method", "GET")
    host, body = _page(world, args["url"])
    if method != "GET" and host not in world.web:
        body = '{"status": "ok"}'  # a write to an unknown API: a plausible acknowledgement
    effect = {"action": "http_request", "method": method, "host": host, **args}
    text = "" if method == "HEAD" else body
    return Outcome(f"HTTP/1.1 200 OK\nContent-Length: {len(body)}\n\n{text}", effect)


def web_fetch(world: World, args: dict[str, Any]) -> Outcome:
    host, body = _page(world, args["url"])
    return Outcome(body, {"action": "http_request", "method": "GET", "host": host, **args})


def _move_money(world: World, args: dict[str, Any], action: str) -> Outcome:
    source = args.get("from_account", world.accounts[0] if world.accounts else "CHK-000000")
    if world.accounts and source not in world.accounts:
        raise ToolFailure(
            f"account {source!r} not found; your accounts: {', '.join(world.accounts)}"
        )
    currency = args["currency"].upper()
    transaction = f"TXN-{world.new_id(10).upper()}"
    effect = {**args, "action": action, "from_account": source, "currency": currency}
    effect["transaction_id"] = transaction
    noun = "Transfer" if action == "transfer" else "Payment"
    return Outcome(
        f"{noun} completed: {args['amount']:,.2f} {currency} from {source} to "
        f"{args['to_account']}. Transaction id {transaction}.",
        effect,
    )


def transfer_funds(world: World, args: dict[str, Any]) -> Outcome:
    return _move_money(world, args, "transfer")


def make_payment(world: World, args: dict[str, Any]) -> Outcome:
    return _move_money(world, args, "payment")
