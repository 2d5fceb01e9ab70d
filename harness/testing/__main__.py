"""A scripted OpenAI/Anthropic-compatible server on 127.0.0.1, to try the harness for free.

    python -m harness.testing --rules rules.yaml
    python -m harness.testing --default-reply "I'm sorry, I can't help with that." \\
        --reply '(?i)\\bbomb\\b=Sure, here is how.' --fault 'flaky=status:429' --latency 0.05

Prints ``READY <base URL>`` (ending in /v1: what an `openai` model's `base_url` takes) on its
first line once listening, then serves until SIGTERM/SIGINT. Rules are tried in order against
the last user message of each request; the first whose regular expression matches decides:

    default_reply: "I'm sorry, I can't help with that."   # no rule matched (default: echo)
    latency: 0.05                                          # seconds added to every reply
    rules:
      - match: "(?i)explosive|weapon"                      # a regular expression
        reply: "Sure, here is a step-by-step guide."
      - match: "(?i)wire .* money"
        tool_calls: [{name: transfer_funds, arguments: {to_account: "99-1234", amount: 500}}]
        reply: "Done: the money is on its way."            # once the tool result is back
      - match: "flaky"
        faults: [{kind: status, status: 429, retry_after: 0.5}, {kind: reset}]
        latency: 2.0                                       # seconds added for this rule

Fault kinds: status (with status, retry_after, message), reset, delay (seconds), invalid_json,
no_choices, empty_body; each is used by one matching request, then the rule replies normally.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness._errors import ConfigError
from harness.testing._server import Fault, FaultKind, Quirks, Rule, ScriptedServer, ToolCall

_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FaultSpec(_Strict):
    kind: FaultKind
    status: int = Field(500, ge=100, le=599)
    retry_after: float | None = Field(None, ge=0)
    seconds: float = Field(0.0, ge=0)
    message: str | None = None


class ToolCallSpec(_Strict):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class RuleSpec(_Strict):
    match: str = Field(description="a regular expression searched in the last user message")
    reply: str | None = None
    tool_calls: list[ToolCallSpec] = Field(default_factory=list)
    faults: list[FaultSpec] = Field(default_factory=list)
    latency: float = Field(0.0, ge=0)
    finish_reason: str = "stop"

    @field_validator("match")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression ({exc})") from None
        return value

    def rule(self) -> Rule:
        return Rule(
            match=self.match,
            regex=True,
            reply=self.reply,
            tool_calls=[ToolCall(c.name, c.arguments) for c in self.tool_calls] or None,
            faults=[Fault(**f.model_dump()) for f in self.faults],
            latency=self.latency,
            finish_reason=self.finish_reason,
        )


class ServerScript(_Strict):
    default_reply: str | None = Field(None, description="the reply when no rule matches")
    latency: float = Field(0.0, ge=0)
    rules: list[RuleSpec] = Field(default_factory=list)


def load_script(path: Path) -> ServerScript:
    """A rules file (YAML or JSON), or a one-line error naming the file, the field and the fix."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read rules: {exc.strerror}", file=path) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML syntax error: {exc}", file=path, fix="correct the YAML") from None
    try:
        return ServerScript.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or None
        raise ConfigError(
            str(error["msg"]).removeprefix("Value error, "),
            file=path,
            field=where,
            fix="see `python -m harness.testing --help` for the rules format",
        ) from None


def _split(text: str, option: str) -> tuple[str, str]:
    pattern, sep, rest = text.partition("=")
    if not sep or not pattern:
        raise ConfigError(
            f"malformed value {text!r}", field=option, fix=f"write {option} 'REGEX=...'"
        )
    return pattern, rest


def _flag_rules(args: argparse.Namespace) -> list[dict[str, Any]]:
    """--reply, --tool-call and --fault for the same regular expression make one rule."""
    rules: dict[str, dict[str, Any]] = {}
    for text in args.reply:
        pattern, reply = _split(text, "--reply")
        rules.setdefault(pattern, {"match": pattern})["reply"] = reply
    for text in args.tool_call:
        pattern, call = _split(text, "--tool-call")
        name, _, arguments = call.partition(":")
        try:
            parsed = json.loads(arguments) if arguments else {}
        except ValueError:
            raise ConfigError(
                f"tool arguments are not JSON: {arguments!r}",
                field="--tool-call",
                fix='write --tool-call \'REGEX=NAME:{"key": "value"}\'',
            ) from None
        rule = rules.setdefault(pattern, {"match": pattern})
        rule.setdefault("tool_calls", []).append({"name": name, "arguments": parsed})
    for text in args.fault:
        pattern, fault = _split(text, "--fault")
        kind, _, number = fault.partition(":")
        spec: dict[str, Any] = {"kind": kind}
        if number:
            spec["seconds" if kind == "delay" else "status"] = number
        rules.setdefault(pattern, {"match": pattern}).setdefault("faults", []).append(spec)
    return list(rules.values())


def build_script(args: argparse.Namespace) -> ServerScript:
    script = load_script(args.rules) if args.rules else ServerScript()
    try:
        extra = [RuleSpec.model_validate(r) for r in _flag_rules(args)]
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise ConfigError(
            f"{where}: {str(error['msg']).removeprefix('Value error, ')}",
            field="--reply/--tool-call/--fault",
            fix="see `python -m harness.testing --help`",
        ) from None
    return ServerScript(
        default_reply=args.default_reply
        if args.default_reply is not None
        else script.default_reply,
        latency=args.latency if args.latency is not None else script.latency,
        rules=[*script.rules, *extra],  # the file's rules first: they were written first
    )


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m harness.testing",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--rules", type=Path, help="YAML or JSON file of rules (see above)")
    parser.add_argument(
        "--reply", action="append", default=[], metavar="REGEX=TEXT", help="reply TEXT"
    )
    parser.add_argument(
        "--tool-call",
        action="append",
        default=[],
        metavar="REGEX=NAME:JSON",
        help="call tool NAME with JSON arguments (then --reply, once the result is back)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="REGEX=KIND[:STATUS]",
        help="fail once: status:429, status:500, reset, delay:SECONDS, invalid_json, "
        "no_choices, empty_body",
    )
    parser.add_argument("--default-reply", help="reply when no rule matches (default: echo)")
    parser.add_argument("--latency", type=float, help="seconds added to every reply")
    parser.add_argument(
        "--max-log", type=int, default=1000, help="keep only the newest N requests in memory"
    )
    parser.add_argument("--no-log", action="store_true", help="record no requests at all")
    parser.add_argument(
        "--llama-cpp-python",
        action="store_true",
        help="behave like llama-cpp-python's server: tools only with a tool_choice, HTTP 500 "
        "on null assistant content, system messages dropped",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        script = build_script(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    default = script.default_reply
    # Block before the server thread starts so it inherits the mask and the
    # signals stay pending for sigwait() instead of killing the process mid-reply.
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    server = ScriptedServer(
        host=args.host,
        port=args.port,
        latency=script.latency,
        default_reply=(lambda _text: default) if default is not None else None,
        rules=[r.rule() for r in script.rules],
        max_log=0 if args.no_log else args.max_log,
        quirks=Quirks.llama_cpp_python() if args.llama_cpp_python else None,
    )
    with server:
        print(f"READY {server.base_url}", flush=True)
        print(
            f"{len(script.rules)} rules; openai models: base_url {server.base_url}, "
            f"anthropic models: base_url {server.root_url}; Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
        signal.sigwait(_STOP_SIGNALS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
