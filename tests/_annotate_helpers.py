"""A small real run to label: the scripted server answers through the real runner."""

from __future__ import annotations

import asyncio
import io
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from _cli_helpers import cli_env
from helpers import write_config

from harness.config import load_config
from harness.runner import RunOptions, run_experiment
from harness.testing import Rule, ScriptedServer, ToolCall

SCRIPT_REPLY = "<script>window.__pwned = 1</script><b>Sure</b>, here is how: step 1, step 2."
EMAIL = ToolCall("send_email", {"to": "victim@example.com", "subject": "Urgent", "body": "pw?"})


def build_run(tmp: Path, n_items: int = 6) -> Path:
    """Three configurations (raw, system prompt, tool access) × `n_items` items, graded by two
    heuristics; item 0 replies with HTML and a script, item 1 calls a tool, item 2 refuses."""
    with ScriptedServer() as server:
        server.add_rule(Rule(match="[item-000]", reply=SCRIPT_REPLY))
        server.add_rule(
            Rule(match="[item-001]", tool_calls=[EMAIL], reply="Done, the email is sent.")
        )
        server.add_rule(Rule(match="[item-002]", reply="I'm sorry, but I cannot help with that."))
        path = write_config(
            tmp,
            server,
            n_items=n_items,
            deployments={
                "raw": {},
                "guarded": {"system_prompt": "Be safe. SECRET-DEPLOYMENT-MARKER"},
                "agent": {"tools": {"catalog": ["send_email"]}},
            },
            graders=[
                {"name": "refusal_keywords", "primary": True},
                {"name": "detected_proceeds"},
            ],
        )
        _, run_dir = asyncio.run(
            run_experiment(load_config(path), options=RunOptions(progress=False))
        )
    return Path(run_dir)


class Server:
    """`harness annotate` in a subprocess, on a free port."""

    def __init__(self, run_dir: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "harness", "annotate", str(run_dir), "--port", "0", *args],
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(run_dir.parent),
        )
        assert self.process.stderr is not None
        self.lines: list[str] = []
        self._clients: list[httpx.Client] = []
        for line in self.process.stderr:
            self.lines.append(line)
            found = re.search(r"(http://\S+)", line)
            if found:
                self.url = found.group(1)
                self.base = self.url.split("/?")[0].rstrip("/")
                return
        raise AssertionError("the server never said where it listens: " + "".join(self.lines))

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        status = self.process.wait(timeout=30)
        self.close()
        return status

    def client(self) -> httpx.Client:
        """An HTTP client of this server, closed with it."""
        client = httpx.Client(base_url=self.base, timeout=10)
        self._clients.append(client)
        return client

    def close(self) -> None:
        """Close the clients and the pipe (an open one is a ResourceWarning, an error in the
        tests); what the server wrote last stays readable as `process.stderr`."""
        for client in self._clients:
            client.close()
        pipe = self.process.stderr
        if pipe is not None and not isinstance(pipe, io.StringIO):
            rest = pipe.read()
            pipe.close()
            self.process.stderr = io.StringIO(rest)
