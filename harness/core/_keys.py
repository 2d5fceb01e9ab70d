"""Content hashes: the identity of an attempt, of what was sent, and of a file's bytes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

__all__ = ["attempt_key", "digest", "file_sha256"]

_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def digest(data: Any, length: int = 64) -> str:
    """sha256 of `data`'s canonical JSON (sorted keys, no spaces), cut to `length` hex digits."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def attempt_key(configuration: str, suite: str, item_id: str, attack: str, sample: int) -> str:
    """The identity of one cell of the experiment, stable across re-runs of the same config."""
    return digest([configuration, suite, item_id, attack, sample], 32)


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, computed once per (path, size, mtime) in a process: a GGUF is
    hundreds of megabytes and both the plan and the manifest need its digest."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_CACHE:
        hasher = hashlib.sha256()
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                hasher.update(block)
        _SHA_CACHE[key] = hasher.hexdigest()
    return _SHA_CACHE[key]
