"""The durable run store: SQLite attempts and grades, plus the run's manifest."""

# the records are defined on the ground floor (harness.core); re-exported for existing imports
from harness.core import (
    LOG_NAME,
    MANIFEST_NAME,
    ROLES,
    AttackStep,
    AttemptRecord,
    GradeRecord,
    Manifest,
    RequestRecord,
    Status,
    now_iso,
    read_manifest,
    write_manifest,
)
from harness.store._merge import ShardTables, TablesPlanner, merge_runs
from harness.store._scrub import Scrubber
from harness.store._store import (
    ATTEMPT_COLUMNS,
    CELL_BLOCK,
    CELL_ORDER,
    DB_NAME,
    REPORT_COLUMNS,
    SCHEMA_VERSION,
    RunStore,
    Snapshot,
)

__all__ = [
    "ATTEMPT_COLUMNS",
    "CELL_BLOCK",
    "CELL_ORDER",
    "DB_NAME",
    "LOG_NAME",
    "MANIFEST_NAME",
    "REPORT_COLUMNS",
    "ROLES",
    "SCHEMA_VERSION",
    "AttackStep",
    "AttemptRecord",
    "GradeRecord",
    "Manifest",
    "RequestRecord",
    "RunStore",
    "Scrubber",
    "ShardTables",
    "Snapshot",
    "Status",
    "TablesPlanner",
    "merge_runs",
    "now_iso",
    "read_manifest",
    "write_manifest",
]
