"""Rows of the run store: one per attempt and one per grade."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ROLES", "AttackStep", "AttemptRecord", "GradeRecord", "RequestRecord", "Status"]

# who a request was sent for: the model under test, a guard of its deployment, a judge grading
# it, or (later) an attacker model writing the attack
ROLES = ("target", "guard", "judge", "attacker")


class Status(StrEnum):
    OK = "OK"
    ERROR = "ERROR"
    BLOCKED_INPUT = "BLOCKED_INPUT"
    BLOCKED_OUTPUT = "BLOCKED_OUTPUT"
    # a tool-access deployment on a model or server that cannot call tools: never run as text
    NO_TOOL_SUPPORT = "NO_TOOL_SUPPORT"


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
    messages: str  # JSON: the whole conversation, tool calls and observations included
    response: str | None  # what the user sees (a guard's refusal text when blocked)
    raw_response: str | None  # the model's unfiltered reply, when a guard replaced it
    tool_calls: str | None  # JSON list of executed (simulated) tool calls
    targets: str | None  # JSON list of the item's declared harmful target actions
    guard_events: str | None  # JSON list of guard decisions, with categories and latency
    model_calls: int  # model requests this attempt made (agent steps and turns)
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
    # 1 if the attempt carried out one of the item's declared target actions, 0 if it carried
    # out none, None if the item declares none; worked out when the attempt is recorded, so a
    # report need not read conversations. None on stores written before it existed (the
    # report then works it out from `targets` and `tool_calls`).
    executed_target: int | None = None
    # JSON: an adaptive attack's whole trajectory (attacker prompts, target replies, judge
    # ratings per stream) and its query counts; None for every other attack
    attack_trace: str | None = None


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
    # what decided the label (the grader's options, templates, lists, code): a grade whose
    # grader changed since is re-graded by `harness run --force`; None on older stores
    grade_hash: str | None = None


@dataclass(frozen=True)
class RequestRecord:
    """One request to a model (all its tries), so that what was spent survives a resume."""

    model: str
    role: str  # one of ROLES
    configuration: str | None  # the configuration of the attempt it was sent for
    attack: str | None
    attempt_id: str | None
    tries: int
    prompt_tokens: int | None
    completion_tokens: int | None
    cost: float | None  # USD at the run's prices; None without a price for the model
    finished_at: str


@dataclass(frozen=True)
class AttackStep:
    """One answer an adaptive attack's search received, stored as soon as it came."""

    attempt_id: str
    request_hash: str  # the attempt's request as it was sent: a changed attack starts afresh
    key: str  # the step within the search: `s0.i1.attacker.0`, `target.3`...
    role: str  # attacker | judge | target
    answer: str  # JSON: the model's answer, or the target query's whole attempt record
    recorded_at: str
