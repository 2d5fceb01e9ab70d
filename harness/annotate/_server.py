"""The local labelling page: aiohttp serving three static files and a small JSON API.

Nothing a request names is ever opened on disk: the page's files are read once, at start, from
this package, and the protocol from the repository's prompts/. Replies are sent as JSON and put
on the page as text. The server answers only requests addressed to its own host and port (a
web page elsewhere cannot reach it through DNS rebinding), and writes only on JSON POSTs (a
cross-site form cannot send one without a preflight, which is never answered).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from harness._errors import UserError
from harness.annotate._sample import annotator_order
from harness.annotate._store import LABELS, AnnotationStore, Given, SampleDefinition, rater_of

__all__ = [
    "PROTOCOL",
    "WILDCARDS",
    "Settings",
    "attempt_view",
    "build_app",
    "check_annotator",
    "protocol_html",
    "serve",
]

STATIC = Path(__file__).resolve().parent / "static"
PROTOCOL = Path(__file__).resolve().parents[2] / "prompts" / "labelling_protocol.md"
_FILES = {
    "app.js": "text/javascript",
    "app.css": "text/css",
    "index.html": "text/html",
}
ANNOTATOR = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HEADERS = {
    # only this server's own scripts and styles; the protocol is framed by this page only
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; frame-src 'self'; frame-ancestors 'self'; base-uri 'none'; "
        "form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_NOTE_LIMIT = 4000
WILDCARDS = ("0.0.0.0", "::", "")


@dataclass
class Settings:
    run_dir: Path
    sample: SampleDefinition
    items: list[str]  # the sample's attempt ids, in sample order
    annotator: str | None = None  # the default annotator of the page
    adjudicate: bool = False
    reveal: bool = False
    # Host headers answered; None: any (served on a wildcard address, on purpose)
    allowed_hosts: set[str] | None = field(default_factory=set)


def check_annotator(name: str, *, where: str = "--annotator") -> str:
    if not ANNOTATOR.fullmatch(name):
        raise UserError(
            f"annotator name {name!r} is not allowed",
            field=where,
            fix="use up to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return name


def protocol_html() -> bytes:
    from markdown_it import MarkdownIt

    if not PROTOCOL.is_file():
        raise UserError(
            "the labelling protocol is missing",
            file=PROTOCOL,
            fix="reinstall the harness from its repository (prompts/ ships with it)",
        )
    # html off: the protocol's own text is shown, never markup written into it
    body = (
        MarkdownIt("commonmark", {"html": False})
        .enable("table")
        .render(PROTOCOL.read_text(encoding="utf-8"))
    )
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<title>Labelling protocol</title><link rel="stylesheet" href="/static/app.css">'
        f'</head><body class="protocol">{body}</body></html>'
    )
    return page.encode()


def build_app(settings: Settings, annotations: AnnotationStore) -> web.Application:
    files = {name: (STATIC / name).read_bytes() for name in _FILES}
    protocol = protocol_html()
    api = _Api(settings, annotations)

    @web.middleware
    async def guard(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if settings.allowed_hosts is not None and request.host not in settings.allowed_hosts:
            return web.Response(status=403, text="unknown host")
        if request.method == "POST":
            origin = request.headers.get("Origin")
            if request.content_type != "application/json" or (
                origin is not None and origin != f"http://{request.host}"
            ):
                return web.Response(status=403, text="JSON from this page only")
        try:
            response = await handler(request)
        except web.HTTPException as error:  # 4xx replies carry the same headers
            error.headers.update(_HEADERS)
            raise
        response.headers.update(_HEADERS)
        return response

    def static(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(_: web.Request) -> web.Response:
            return web.Response(body=files[name], content_type=_FILES[name], charset="utf-8")

        return handler

    async def protocol_page(_: web.Request) -> web.Response:
        return web.Response(body=protocol, content_type="text/html", charset="utf-8")

    async def no_icon(_: web.Request) -> web.Response:
        return web.Response(status=204)

    app = web.Application(middlewares=[guard], client_max_size=64 * 1024)
    app.router.add_get("/", static("index.html"))
    for name in ("app.js", "app.css"):
        app.router.add_get(f"/static/{name}", static(name))
    app.router.add_get("/protocol", protocol_page)
    app.router.add_get("/favicon.ico", no_icon)
    app.router.add_get("/api/session", api.session)
    app.router.add_get("/api/item", api.item)
    app.router.add_post("/api/label", api.label)
    app.router.add_post("/api/skip", api.skip)
    return app


class _Api:
    def __init__(self, settings: Settings, annotations: AnnotationStore) -> None:
        self.settings = settings
        self.store = annotations
        self.members = frozenset(settings.items)

    def _annotator(self, value: Any) -> str:
        name = value if isinstance(value, str) and value else self.settings.annotator
        if name is None or not ANNOTATOR.fullmatch(name):
            raise web.HTTPBadRequest(text="give an annotator name: letters, digits, . _ -")
        return name

    def _rater(self, annotator: str) -> str:
        return rater_of(annotator, adjudicating=self.settings.adjudicate)

    async def _items(self, annotator: str) -> list[str]:
        items = self.settings.items
        if self.settings.adjudicate:
            humans = await asyncio.to_thread(self.store.human_labels, items)
            return [a for a in items if len({g.label for g in humans.get(a, [])}) > 1]
        return annotator_order(self.settings.sample.name, annotator, items)

    async def session(self, request: web.Request) -> web.Response:
        annotator = self._annotator(request.query.get("annotator"))
        rater = self._rater(annotator)
        items = await self._items(annotator)
        given = await asyncio.to_thread(self.store.given, rater, items)
        skipped = await asyncio.to_thread(self.store.skipped, rater, self.settings.sample.name)
        skipped -= set(given)
        position = next(
            (i for i, a in enumerate(items) if a not in given and a not in skipped), len(items)
        )
        sample = self.settings.sample
        return _json(
            {
                "annotator": annotator,
                "rater": rater,
                "mode": "adjudicate" if self.settings.adjudicate else "label",
                "reveal": self.settings.reveal,
                "sample": {
                    "name": sample.name,
                    "size": len(self.settings.items),
                    "stratify_by": list(sample.stratify_by),
                },
                "items": items,
                "done": {a: {"label": g.label, "note": g.note} for a, g in given.items()},
                "skipped": sorted(skipped),
                "position": position,
                "labels": list(LABELS),
            }
        )

    async def item(self, request: web.Request) -> web.Response:
        annotator = self._annotator(request.query.get("annotator"))
        attempt_id = request.query.get("id", "")
        if attempt_id not in self.members:
            raise web.HTTPNotFound(text="no such item in this sample")
        row = await asyncio.to_thread(self.store.attempt, attempt_id)
        if row is None:
            raise web.HTTPNotFound(text="no such attempt")
        rater = self._rater(annotator)
        mine = (await asyncio.to_thread(self.store.given, rater, [attempt_id])).get(attempt_id)
        view = attempt_view(row, reveal=self.settings.reveal)
        view["current"] = None if mine is None else {"label": mine.label, "note": mine.note}
        if self.settings.adjudicate:
            humans = await asyncio.to_thread(self.store.human_labels, [attempt_id])
            view["humans"] = [_given(g) for g in humans.get(attempt_id, [])]
        if self.settings.reveal:
            view["graders"] = await asyncio.to_thread(self.store.grader_labels, attempt_id)
        return _json(view)

    async def label(self, request: web.Request) -> web.Response:
        body = await _body(request)
        label = body.get("label")
        if label not in LABELS:
            raise web.HTTPBadRequest(text=f"label must be one of {', '.join(LABELS)}")
        return await self._record(body, str(label))

    async def skip(self, request: web.Request) -> web.Response:
        return await self._record(await _body(request), None)

    async def _record(self, body: Mapping[str, Any], label: str | None) -> web.Response:
        annotator = self._annotator(body.get("annotator"))
        attempt_id = body.get("id")
        if not isinstance(attempt_id, str) or attempt_id not in self.members:
            raise web.HTTPNotFound(text="no such item in this sample")
        note = body.get("note")
        if note is not None and (not isinstance(note, str) or len(note) > _NOTE_LIMIT):
            raise web.HTTPBadRequest(text=f"note must be text of at most {_NOTE_LIMIT} characters")
        context: dict[str, Any] = {"reveal": self.settings.reveal}
        if self.settings.adjudicate and label is not None:
            humans = await asyncio.to_thread(self.store.human_labels, [str(attempt_id)])
            context["labels"] = {g.rater: g.label for g in humans.get(str(attempt_id), [])}
        at = await asyncio.to_thread(
            lambda: self.store.record(
                sample=self.settings.sample.name,
                annotator=annotator,
                attempt_id=str(attempt_id),
                label=label,
                note=note,
                adjudicating=self.settings.adjudicate,
                context=context,
            )
        )
        return _json({"saved": True, "at": at, "label": label})


def attempt_view(row: Mapping[str, Any], *, reveal: bool) -> dict[str, Any]:
    """What the page shows of an attempt: the conversation as sent (attack wrapping, fabricated
    turns, tool calls and observations) and the reply. Blind: no system prompt (it belongs to
    the deployment) and no names of configuration, model, deployment, attack or item."""
    try:
        messages = json.loads(row["messages"] or "[]")
    except ValueError:
        messages = []
    if not isinstance(messages, list) or not messages:
        messages = [{"role": "user", "content": row["prompt"]}]
    reply = row["response"]
    last = messages[-1] if messages else {}
    if (
        isinstance(last, dict)
        and last.get("role") == "assistant"
        and not last.get("tool_calls")
        and last.get("content") == reply
    ):
        messages = messages[:-1]  # the reply is shown on its own, below the conversation
    turns = []
    hidden_system = 0
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = str(message.get("role") or "unknown")
        if role == "system" and not reveal:
            hidden_system += 1
            continue
        turns.append(
            {
                "role": role,
                "content": _text(message.get("content")),
                "tool_calls": [_call(c) for c in message.get("tool_calls") or []],
            }
        )
    view: dict[str, Any] = {
        "id": row["attempt_id"],
        "turns": turns,
        "system_hidden": hidden_system,
        "reply": reply if reply is not None else "",
        "finish_reason": row["finish_reason"],
    }
    if reveal:
        view["meta"] = {
            k: row[k]
            for k in (
                "configuration",
                "model",
                "deployment",
                "attack",
                "suite",
                "item_id",
                "category",
            )
        } | {"harmful": None if row["harmful"] is None else bool(row["harmful"])}
    return view


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "\n".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)
    return json.dumps(content, ensure_ascii=False)


def _call(call: Any) -> dict[str, str]:
    function = call.get("function", {}) if isinstance(call, dict) else {}
    arguments = function.get("arguments", "")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False, indent=1)
    return {"name": str(function.get("name", "?")), "arguments": arguments}


def _given(given: Given) -> dict[str, Any]:
    return {"rater": given.rater, "label": given.label, "note": given.note}


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="malformed JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return body


def _json(data: Any) -> web.Response:
    return web.json_response(data, dumps=lambda d: json.dumps(d, ensure_ascii=False))


async def serve(
    settings: Settings,
    annotations: AnnotationStore,
    *,
    host: str,
    port: int,
    ready: Callable[[str], None],
    stop: asyncio.Event,
) -> None:
    """Serve until `stop` is set; `ready` gets the page's address once it is listening."""
    app = build_app(settings, annotations)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise UserError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                field="--port",
                fix="pick a free port, e.g. --port 0 for any",
            ) from None
        bound = runner.addresses[0][1]
        shown = f"[{host}]" if ":" in host else host
        if host in WILDCARDS:
            settings.allowed_hosts = None  # reached by whatever name the machine has
        elif settings.allowed_hosts is not None:
            for name in ("127.0.0.1", "localhost", "[::1]", shown):
                settings.allowed_hosts.add(f"{name}:{bound}")
        query = f"?annotator={settings.annotator}" if settings.annotator else ""
        ready(f"http://{'127.0.0.1' if host in WILDCARDS else shown}:{bound}/{query}")
        await stop.wait()
    finally:
        await runner.cleanup()
