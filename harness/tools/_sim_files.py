"""Simulators for the virtual filesystem and the shell.

`run_shell` never spawns a process: it parses the command line and answers a few common
commands from the virtual filesystem; anything else gets a generic canned reply.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Callable
from typing import Any

from harness.tools._defaults import HOSTNAME, NOW, USER
from harness.tools._types import Outcome, ToolFailure
from harness.tools._world import World

__all__ = ["list_directory", "read_file", "run_shell", "write_file"]

GENERIC_SHELL_OUTPUT = "command executed (simulated)"
# Pipelines, redirections and substitutions would need a real shell; they get the generic reply.
_METACHARACTERS = frozenset("|;&<>`$(){}\n\x00")
_NETWORK_PROGRAMS = frozenset(
    {"curl", "wget", "nc", "ncat", "netcat", "ssh", "scp", "sftp", "rsync", "telnet", "ftp", "ping"}
)


def read_file(world: World, args: dict[str, Any]) -> Outcome:
    return Outcome(world.fs.read(args["path"]) or "(empty file)", {})


def write_file(world: World, args: dict[str, Any]) -> Outcome:
    path = world.fs.write(args["path"], args["content"])
    size = len(args["content"].encode("utf-8", "surrogatepass"))
    effect = {"action": "write_file", "path": path, "content": args["content"]}
    return Outcome(f"Wrote {size} bytes to {path}", effect)


def list_directory(world: World, args: dict[str, Any]) -> Outcome:
    entries = world.fs.listdir(args["path"])
    return Outcome("\n".join(entries) if entries else "(empty directory)", {})


def run_shell(world: World, args: dict[str, Any]) -> Outcome:
    command = args["command"]
    output = _shell_output(world, command)
    return Outcome(output or "(no output)", {"action": "run_shell", "command": command})


def _shell_output(world: World, command: str) -> str:
    if any(c in _METACHARACTERS for c in command):
        return GENERIC_SHELL_OUTPUT
    try:
        words = shlex.split(command)
    except ValueError:  # an unbalanced quote, as bash would complain
        return "bash: syntax error: unexpected end of file"
    if not words:
        return ""
    program = posixpath.basename(words[0])
    if program in _NETWORK_PROGRAMS:
        return f"{program}: simulated: network disabled"
    handler = _COMMANDS.get(program)
    return handler(world, words[1:]) if handler else GENERIC_SHELL_OUTPUT


def _operands(argv: list[str]) -> list[str]:
    return [a for a in argv if not a.startswith("-")]


def _each(world: World, argv: list[str], program: str, show: Callable[[str], str]) -> str:
    """Runs `show` on each operand, reporting failures the way coreutils does."""
    out = []
    for operand in _operands(argv) or ["."]:
        try:
            out.append(show(operand))
        except ToolFailure as exc:
            reason = str(exc).rsplit(": ", 1)[-1]
            out.append(f"{program}: {operand}: {reason}")
    return "\n".join(out)


def _ls(world: World, argv: list[str]) -> str:
    def show(path: str) -> str:
        if world.fs.is_dir(path):
            return "  ".join(world.fs.listdir(path))
        world.fs.read(path)  # raises when missing
        return path

    return _each(world, argv, "ls", show)


def _cat(world: World, argv: list[str]) -> str:
    if not _operands(argv):
        return ""
    return _each(world, argv, "cat", lambda path: world.fs.read(path).rstrip("\n"))


def _rm(world: World, argv: list[str]) -> str:
    flags = "".join(a for a in argv if a.startswith("-") and not a.startswith("--"))
    recursive = "r" in flags.lower() or "--recursive" in argv
    guard_root = recursive and "--no-preserve-root" not in argv
    out = []
    for operand in _operands(argv):
        try:
            if guard_root and world.fs.resolve(operand) == "/":  # GNU rm's failsafe
                out.append("rm: it is dangerous to operate recursively on '/'")
                out.append("rm: use --no-preserve-root to override this failsafe")
                continue
            world.fs.remove(operand, recursive=recursive)
        except ToolFailure as exc:
            out.append(f"rm: {exc}")
    return "\n".join(out)


def _cd(world: World, argv: list[str]) -> str:
    target = (_operands(argv) or [world.fs.home])[0]
    try:
        if world.fs.is_dir(target):
            world.fs.cwd = world.fs.resolve(target)
            return ""
    except ToolFailure:
        pass  # an empty operand: bash reports it like any missing directory
    return f"bash: cd: {target}: No such file or directory"


_COMMANDS: dict[str, Callable[[World, list[str]], str]] = {
    "ls": _ls,
    "cat": _cat,
    "rm": _rm,
    "cd": _cd,
    "pwd": lambda world, argv: world.fs.cwd,
    "echo": lambda world, argv: " ".join(argv),
    "whoami": lambda world, argv: USER,
    "id": lambda world, argv: f"uid=1000({USER}) gid=1000({USER}) groups=1000({USER}),27(sudo)",
    "hostname": lambda world, argv: HOSTNAME,
    "uname": lambda world, argv: (
        f"Linux {HOSTNAME} 6.5.0-35-generic #35-Ubuntu SMP x86_64 GNU/Linux" if argv else "Linux"
    ),
    "date": lambda world, argv: NOW,
}
