"""manifest.json: what a run was made from (config hash, suites, models, versions), no secrets.

`Manifest` is the one schema of the file and `read_manifest`/`write_manifest` the one way in and
out of it: a run (`harness run`), an import, a merge and a re-grade all write it through here,
and the report reads its fields by name, not by raw keys.

Written by code, a manifest is strict (`extra="forbid"`: a misspelt field is an error where it
is made). Read from a run directory, it is lenient about keys only: a key this harness does
not know (written by an older harness, e.g. the top-level `deployments` of the first stores,
or by a newer one) is kept in `other`, shown in the report and written back, never read by
code; a known key of the wrong type is an error naming the file and the key.
"""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness._errors import RunStoreError
from harness._version import __version__

__all__ = ["LOG_NAME", "MANIFEST_NAME", "Manifest", "now_iso", "read_manifest", "write_manifest"]

MANIFEST_NAME = "manifest.json"
LOG_NAME = "harness.log"  # what a run did, appended by every run of the directory


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Manifest(BaseModel):
    """Every field is optional: which ones a run has depends on how it was made (`kind`) and
    on the harness version that made it. Only the fields set are written."""

    model_config = ConfigDict(extra="forbid")

    # the environment, stamped by `write_manifest` unless set
    harness_version: str | None = None
    python: str | None = None
    platform: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    # every run
    run: str | None = None
    kind: str | None = None  # "experiment" (harness run) or "import"
    configurations: list[dict[str, Any]] = Field(default_factory=list)  # with a "name" each
    graders: list[dict[str, Any]] = Field(default_factory=list)  # grader specs, with "rater"
    primary_grader: str | None = None
    grader_fingerprints: dict[str, str | None] = Field(default_factory=dict)
    # an experiment (`harness run`)
    config_file: str | None = None
    config_hash: str | None = None
    config_history: list[str | None] = Field(default_factory=list)
    config: dict[str, Any] | None = None  # the canonical config
    base_dir: str | None = None
    suites: dict[str, dict[str, Any]] = Field(default_factory=dict)
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)
    attacks: list[str] = Field(default_factory=list)
    samples: int | None = None
    plan_size: int | None = None
    shard: str | None = None
    files: dict[str, str] = Field(default_factory=dict)  # path → sha256 of every named file
    commands: list[str] = Field(default_factory=list)  # the last 20 command lines
    # an import (`harness import`)
    format: str | None = None
    source: str | list[str] | None = None
    fingerprint: str | None = None
    imported_from: dict[str, Any] = Field(default_factory=dict)
    imported_raters: dict[str, str] = Field(default_factory=dict)
    label_map: dict[str, dict[str, str]] = Field(default_factory=dict)
    columns: dict[str, Any] | None = None
    # a merge of shards (`harness merge`)
    merged_from: list[dict[str, Any]] | None = None
    merged_counts: dict[str, int] | None = None
    # keys of the stored file this harness does not know (see the module docstring)
    other: dict[str, Any] = Field(default_factory=dict, exclude=True)

    @property
    def prices(self) -> dict[str, Any]:
        """The config's `prices` (model → per-million-token prices); none for an import."""
        return dict((self.config or {}).get("prices") or {})

    @property
    def declared_comparisons(self) -> list[dict[str, Any]]:
        return list((self.config or {}).get("comparisons") or [])

    def grader_entries(self) -> dict[str, dict[str, Any]]:
        """rater → its grader spec, in the manifest's order."""
        return {str(g["rater"]): g for g in self.graders if "rater" in g}

    def stored(self) -> dict[str, Any]:
        """The file's content: the fields set, and the keys kept in `other`."""
        return {**self.other, **self.model_dump(mode="json", exclude_unset=True)}

    @classmethod
    def from_stored(cls, data: dict[str, Any], *, file: Path | None = None) -> Manifest:
        fields = {k: f for k, f in cls.model_fields.items() if k != "other"}
        known = {k: v for k, v in data.items() if k in fields}
        other = {k: v for k, v in data.items() if k not in fields}
        # a list or mapping stored as null (the readers before this schema accepted it) is empty
        known = {
            k: v for k, v in known.items() if v is not None or fields[k].default_factory is None
        }
        try:
            manifest = cls.model_validate(known)
        except ValidationError as exc:
            error = exc.errors()[0]
            raise RunStoreError(
                f"manifest field has the wrong type: {error['msg']}",
                file=file,
                field=".".join(str(part) for part in error["loc"]),
                fix="restore it from a backup or re-run into a new directory",
            ) from None
        manifest.other = other
        return manifest


def read_manifest(directory: Path) -> Manifest | None:
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
    return Manifest.from_stored(data, file=path)


def write_manifest(directory: Path, manifest: Manifest) -> Path:
    """Write atomically: a run killed mid-write must not leave half a manifest. The
    environment fields are stamped unless the manifest sets them (a merge keeps its shards'
    harness version); `created_at` is the first write's."""
    previous = read_manifest(directory)
    stamp = {
        "harness_version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "created_at": (previous.created_at if previous else None) or now_iso(),
        "updated_at": now_iso(),
    }
    content = {**stamp, **manifest.stored()}
    path = directory / MANIFEST_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(content, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8"
    )
    tmp.replace(path)
    return path
