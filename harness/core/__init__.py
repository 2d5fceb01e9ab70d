"""The ground floor: the vocabulary every other package shares.

Labels and verdicts (what a grader says), attempt, grade and request records (the rows of a
run store), the keys and content hashes that identify them, and the run's manifest. It imports
nothing of the harness but its errors and version, so any package may import it and it never
closes a circle.
"""

from harness.core._keys import attempt_key, digest, file_sha256
from harness.core._labels import SUCCESS_BROAD, SUCCESS_STRICT, Label, Verdict
from harness.core._manifest import (
    LOG_NAME,
    MANIFEST_NAME,
    Manifest,
    now_iso,
    read_manifest,
    write_manifest,
)
from harness.core._records import (
    ROLES,
    AttackStep,
    AttemptRecord,
    GradeRecord,
    RequestRecord,
    Status,
)

__all__ = [
    "LOG_NAME",
    "MANIFEST_NAME",
    "ROLES",
    "SUCCESS_BROAD",
    "SUCCESS_STRICT",
    "AttackStep",
    "AttemptRecord",
    "GradeRecord",
    "Label",
    "Manifest",
    "RequestRecord",
    "Status",
    "Verdict",
    "attempt_key",
    "digest",
    "file_sha256",
    "now_iso",
    "read_manifest",
    "write_manifest",
]
