"""Run a ScriptedServer as a standalone process (used by benchmarks).

Prints ``READY http://HOST:PORT`` once listening and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from harness.testing._server import Quirks, ScriptedServer

_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m harness.testing", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every reply")
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
    # Block before the server thread starts so it inherits the mask and the
    # signals stay pending for sigwait() instead of killing the process mid-reply.
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    server = ScriptedServer(
        host=args.host,
        port=args.port,
        latency=args.latency,
        max_log=0 if args.no_log else args.max_log,
        quirks=Quirks.llama_cpp_python() if args.llama_cpp_python else None,
    )
    with server:
        print(f"READY {server.root_url}", flush=True)
        signal.sigwait(_STOP_SIGNALS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
