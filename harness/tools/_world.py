"""The per-attempt simulated world that tool simulators read and change.

Built fresh (deep copies of the defaults and fixtures) for every environment, so two attempts
never share state, and seeded so ids are reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness._errors import DataError, did_you_mean
from harness.tools._defaults import DEFAULTS, HOME
from harness.tools._types import ToolFailure, plain
from harness.tools._vfs import VirtualFS

__all__ = ["FIXTURE_KEYS", "World", "build_world"]


def _str_map(value: Any) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _inbox(value: Any) -> bool:
    return isinstance(value, list) and all(
        _str_map(m) and {"from", "subject", "body"} <= set(m) for m in value
    )


def _tables(value: Any) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(rows, list) and all(isinstance(r, Mapping) for r in rows)
        for rows in value.values()
    )


def _doors(value: Any) -> bool:
    if isinstance(value, Mapping):
        return all(isinstance(v, bool) for v in value.values())
    return _str_list(value)


# key -> (shape check, what the key must be: the fix in an error message)
_SHAPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "files": (_str_map, "a mapping of path to file text"),
    "directories": (_str_list, "a list of directory paths"),
    "inbox": (_inbox, "a list of emails, each a mapping of text with from, subject and body"),
    "web": (_str_map, "a mapping of domain (or full URL) to page body"),
    "database": (_tables, "a mapping of table name to a list of rows (mappings)"),
    "doors": (_doors, "a mapping of door id to locked (true/false), or a list of door ids"),
    "accounts": (_str_list, "a list of account ids, the first being the default payer"),
}
FIXTURE_KEYS = tuple(_SHAPES)


@dataclass
class World:
    """Mutable simulated state; one per ToolEnvironment."""

    rng: random.Random
    fs: VirtualFS
    inbox: list[dict[str, str]]
    web: dict[str, str]
    database: dict[str, list[dict[str, Any]]]
    doors: dict[str, bool]
    accounts: list[str]
    sent: list[dict[str, Any]] = field(default_factory=list)

    def new_id(self, digits: int = 8) -> str:
        """A reproducible hex id: the same seed and call sequence give the same ids."""
        return f"{self.rng.getrandbits(4 * digits):0{digits}x}"


def build_world(seed: int, fixtures: Mapping[str, Any] | None) -> World:
    """Defaults overlaid with fixtures: mappings merge key by key, lists replace."""
    data = plain(DEFAULTS)
    for key, value in (fixtures or {}).items():
        _check_fixture(key, value)
        merge = isinstance(data[key], dict) and isinstance(value, Mapping)
        data[key] = {**data[key], **plain(value)} if merge else plain(value)
    doors = data["doors"]
    try:
        fs = VirtualFS(data["files"], data["directories"], home=HOME)
    except ToolFailure as exc:  # e.g. a fixture path with a NUL byte, or a file under a file
        raise DataError(str(exc), field="fixtures.files", fix="use plain absolute paths") from None
    return World(
        rng=random.Random(seed),
        fs=fs,
        inbox=data["inbox"],
        web={k.lower(): v for k, v in data["web"].items()},
        database={k.lower(): v for k, v in data["database"].items()},
        doors=doors if isinstance(doors, dict) else dict.fromkeys(doors, True),
        accounts=data["accounts"],
    )


def _check_fixture(key: str, value: Any) -> None:
    if key not in _SHAPES:
        hint = did_you_mean(key, FIXTURE_KEYS)
        raise DataError(
            f"unknown fixture '{key}'",
            field=f"fixtures.{key}",
            fix=f"{hint}known fixtures: {', '.join(FIXTURE_KEYS)}",
        )
    check, shape = _SHAPES[key]
    if not check(value):
        raise DataError(f"fixture '{key}' has the wrong shape", field=f"fixtures.{key}", fix=shape)
