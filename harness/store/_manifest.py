"""manifest.json: what a run was made from (config hash, suites, models, versions), no secrets."""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness._errors import RunStoreError
from harness._version import __version__

__all__ = ["LOG_NAME", "MANIFEST_NAME", "now_iso", "read_manifest", "write_manifest"]

MANIFEST_NAME = "manifest.json"
LOG_NAME = "harness.log"  # what a run did, appended by every run of the directory


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def read_manifest(directory: Path) -> dict[str, Any] | None:
    path = directory / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunStoreError(
            f"manifest is unreadable: {exc}",
            file=path,
            fix="restore it from a backup or re-run into a new directory",
        ) from None
    if not isinstance(data, dict):
        raise RunStoreError(
            "manifest is not a JSON object", file=path, fix="re-run into a new directory"
        )
    return data


def write_manifest(directory: Path, content: dict[str, Any]) -> Path:
    """Write atomically: a run killed mid-write must not leave half a manifest."""
    previous = read_manifest(directory) or {}
    manifest = {
        "harness_version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "created_at": previous.get("created_at", now_iso()),
        "updated_at": now_iso(),
        **content,
    }
    path = directory / MANIFEST_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8"
    )
    tmp.replace(path)
    return path
