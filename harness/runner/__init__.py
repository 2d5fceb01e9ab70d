"""Planning and running experiments: the work list, retries, and the async runner."""

# attempt_key and digest live on the ground floor (harness.core); re-exported for existing imports
from harness.core import attempt_key, digest
from harness.runner._attempt import ConfigurationRuntime, run_attempt
from harness.runner._budget import Budget, BudgetExhausted, requests_for
from harness.runner._channels import Channel, ModerationChannel, build_channels
from harness.runner._describe import PlanCounts, describe_deployment, describe_plan, plan_counts
from harness.runner._grade import grade_run
from harness.runner._grader_specs import regrade_specs
from harness.runner._plan import NO_ATTACK, Plan, Shard, WorkItem, build_plan
from harness.runner._retry import CallOutcome, RetryAfterOrBackoff, call_with_retries
from harness.runner._runner import NamedGrader, RunOptions, RunSummary, execute, grade_record
from harness.runner._session import (
    check_config,
    deployment_parts,
    judge_through,
    open_run,
    prepare_graders,
    run_experiment,
)

__all__ = [
    "NO_ATTACK",
    "Budget",
    "BudgetExhausted",
    "CallOutcome",
    "Channel",
    "ConfigurationRuntime",
    "ModerationChannel",
    "NamedGrader",
    "Plan",
    "PlanCounts",
    "RetryAfterOrBackoff",
    "RunOptions",
    "RunSummary",
    "Shard",
    "WorkItem",
    "attempt_key",
    "build_channels",
    "build_plan",
    "call_with_retries",
    "check_config",
    "deployment_parts",
    "describe_deployment",
    "describe_plan",
    "digest",
    "execute",
    "grade_record",
    "grade_run",
    "judge_through",
    "open_run",
    "plan_counts",
    "prepare_graders",
    "regrade_specs",
    "requests_for",
    "run_attempt",
    "run_experiment",
]
