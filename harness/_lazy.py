"""Names a package exports but loads on first use (PEP 562): heavy modules (pandas, aiohttp's
server) stay unimported until a caller needs them."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, homes: Mapping[str, str], namespace: dict[str, Any], exported: Iterable[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's `__getattr__` and `__dir__`: `homes` maps each lazy name to the private
    module (relative to `package`) that defines it; a loaded name is stored in `namespace` so
    later lookups do not come here."""
    names = list(exported)

    def module_getattr(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        namespace[name] = value
        return value

    def module_dir() -> list[str]:
        return sorted([*namespace, *names])

    return module_getattr, module_dir
