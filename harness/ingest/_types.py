"""What a reader of another tool's log hands back: attempts, their imported verdicts, a tally."""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from harness.attacks import NO_ATTACK
from harness.grading import Label
from harness.store import Status

__all__ = ["ImportBatch", "ImportOptions", "ImportedAttempt", "RaterVerdict", "Source", "Tally"]

HEAD_BYTES = 4096


@dataclass(frozen=True)
class RaterVerdict:
    """One external scorer's verdict on one attempt, mapped onto the taxonomy."""

    label: Label
    raw: str | None  # the tool's own value, as written
    score: float | None = None
    rationale: str | None = None
    error: str | None = None  # why the value could not be mapped (the label is UNPARSEABLE)

    def as_json(self) -> dict[str, Any]:
        return {
            "label": str(self.label),
            "raw": self.raw,
            "score": self.score,
            "rationale": self.rationale,
            "error": self.error,
        }


@dataclass
class ImportedAttempt:
    """One attempt as another tool recorded it, before it becomes a stored AttemptRecord."""

    item_id: str
    prompt: str
    response: str | None
    model: str
    messages: list[dict[str, Any]] | None = None  # default: the system prompt and the prompt
    system_prompt: str | None = None  # kept as the configuration's deployment system prompt
    configuration: str | None = None  # default: the model (model/deployment with a system prompt)
    deployment: str | None = None  # default: `imported`, or one named after the system prompt
    attack: str = NO_ATTACK
    sample_index: int = 0
    category: str | None = None
    harmful: bool | None = None  # None: the import's default
    status: Status = Status.OK
    error: str | None = None
    error_kind: str | None = None
    tool_calls: list[Any] | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float | None = None
    started_at: str | None = None
    finished_at: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    raters: dict[str, RaterVerdict] = field(default_factory=dict)


class Tally:
    """What a reader looked at, and why it left out what it did not import."""

    def __init__(self, unit: str) -> None:
        self.unit = unit  # "entries", "samples", "results", "rows"...
        self.read = 0
        self.skipped: Counter[str] = Counter()
        self.noted: Counter[str] = Counter()  # imported, but not as the file had it

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1

    def note(self, what: str) -> None:
        self.noted[what] += 1

    def describe(self) -> str:
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items()))
        total = sum(self.skipped.values())
        text = f"{self.read} {self.unit} read; skipped {total}" + (f" ({reasons})" if total else "")
        return text + "".join(f"; {n} {what}" for what, n in sorted(self.noted.items()))


@dataclass
class ImportBatch:
    """Everything one reader produced from one file."""

    format: str
    attempts: list[ImportedAttempt]
    tally: Tally
    run_name: str | None = None  # a name the file suggests (a task, an eval), else the stem
    details: dict[str, Any] = field(default_factory=dict)  # tool version, run id... (manifest)
    raters: dict[str, str] = field(default_factory=dict)  # rater → what it is (for the manifest)
    # raters whose labels are people's (a benchmark's annotators): the report's human reference
    human_raters: frozenset[str] = frozenset()
    primary: str | None = None  # the rater whose labels the report counts, if the format says
    fingerprint: str | None = None  # what identifies the data read; default: the file's sha256


@dataclass(frozen=True)
class ImportOptions:
    """Options every reader gets; a reader ignores what does not apply to its format."""

    harmful_default: bool = True
    # rater (or "*") → raw value → taxonomy label; overrides a format's own mapping
    label_map: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    columns: Any = None  # ImportColumns, for flat tables
    model_name: str | None = None  # the model, for formats that do not record it (HarmBench)
    split: str = "train"
    subset: str | None = None


class Source:
    """The file being imported, read lazily: recognisers look at its content, never its name."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.path = Path(location)

    @property
    def is_file(self) -> bool:
        return self.path.is_file()

    @cached_property
    def head(self) -> bytes:
        if not self.is_file:
            return b""
        with self.path.open("rb") as handle:
            return handle.read(HEAD_BYTES)

    @cached_property
    def is_zip(self) -> bool:
        return self.head.startswith(b"PK\x03\x04") and zipfile.is_zipfile(self.path)

    @cached_property
    def text(self) -> str | None:
        """The file as UTF-8 text, or None (binary, zip, Parquet, not UTF-8)."""
        if not self.is_file or self.is_zip or self.head.startswith(b"PAR1"):
            return None
        try:
            return self.path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            return None

    @cached_property
    def document(self) -> Any:
        """The file as one JSON document, or None when it is not one."""
        text = self.text
        if text is None or not text.lstrip().startswith(("{", "[")):
            return None
        try:
            return json.loads(text)
        except ValueError:
            return None

    @cached_property
    def first_line(self) -> Any:
        """The first non-empty line parsed as JSON (JSON Lines), or None."""
        for line in (self.text or "").splitlines():
            if line.strip():
                try:
                    return json.loads(line)
                except ValueError:
                    return None
        return None
