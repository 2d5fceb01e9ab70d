"""Rows of the run store: one per attempt and one per grade."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["AttemptRecord", "GradeRecord", "Status"]


class Status(StrEnum):
    OK = "OK"
    ERROR = "ERROR"
    BLOCKED_INPUT = "BLOCKED_INPUT"
    BLOCKED_OUTPUT = "BLOCKED_OUTPUT"


@dataclass(frozen=True)
class AttemptRecord:
    attempt_id: str
    configuration: str
    model: str
    deployment: str
    suite: str
    item_id: str
    category: str | None
    harmful: bool | None
    attack: str
    sample_index: int
    request_hash: str
    prompt: str
    messages: str  # JSON
    response: str | None
    tool_calls: str | None  # JSON
    finish_reason: str | None
    status: Status
    error: str | None
    error_kind: str | None
    tries: int
    latency_s: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    started_at: str | None
    finished_at: str | None
    item_meta: str | None  # JSON of the suite row's other columns


@dataclass(frozen=True)
class GradeRecord:
    attempt_id: str
    grader: str
    label: str
    score: float | None
    rationale: str | None
    raw: str | None
    error: str | None
    graded_at: str
