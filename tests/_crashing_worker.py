"""A llama.cpp worker stand-in that really crashes: a null pointer read through ctypes (SIGSEGV).

Started by the provider through HARNESS_LLAMACPP_WORKER. It speaks the worker's protocol; it
crashes on load when CRASH_ON_LOAD is set, and on any request whose messages mention CRASH.
Otherwise it answers "I cannot help with that." without loading anything.
"""

from __future__ import annotations

import ctypes
import faulthandler
import json
import os
import sys


def crash() -> None:
    ctypes.string_at(0)  # reads address 0: the process dies of SIGSEGV


def main() -> None:
    faulthandler.enable()  # as the real worker does: its report must reach the run's log
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "load":
            if os.environ.get("CRASH_ON_LOAD"):
                crash()
            answer: dict[str, object] = {"ok": True}
        else:
            if "CRASH" in json.dumps(request["messages"]):
                crash()
            answer = {
                "ok": True,
                "text": "I cannot help with that.",
                "finish_reason": "stop",
                "prompt_tokens": 7,
                "completion_tokens": 6,
                "tool_call": None,
            }
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
