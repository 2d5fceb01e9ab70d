"""manifest.json through its one owner (`harness.core.Manifest`, `read_manifest`,
`write_manifest`): strict where code makes it, and every store's manifest still reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _cli_helpers import assert_user_error, harness
from pydantic import ValidationError
from test_store_reads import attempt, grade

from harness import RunStoreError
from harness._version import __version__
from harness.core import MANIFEST_NAME, Manifest, read_manifest, write_manifest
from harness.reporting import analyse_run
from harness.store import RunStore

# the manifest the first harness wrote (before grader fingerprints, referenced files, config
# history, commands and deployment descriptors): a top-level `deployments` it no longer writes
FIRST_VERSION: dict[str, Any] = {
    "harness_version": "0.0.1",
    "python": "3.11.9",
    "platform": "Linux",
    "created_at": "2025-06-01T00:00:00.000+00:00",
    "updated_at": "2025-06-01T00:00:00.000+00:00",
    "run": "old",
    "kind": "experiment",
    "config_file": "/somewhere/old.yaml",
    "config_hash": "ab" * 32,
    "config": {"name": "old", "prices": {"m": {"input": 1.0, "output": 2.0}}},
    "suites": {"s": {"source": "s.jsonl", "fingerprint": "cd" * 32, "items": 2}},
    "models": {"m": {"provider": "openai", "model": "m", "base_url": None, "params": {}}},
    "deployments": {"raw": {"system_prompt": False, "safety_layer": None}},
    "configurations": [{"name": "m/raw", "model": "m", "deployment": "raw"}],
    "attacks": ["none"],
    "graders": [{"name": "refusal_keywords", "rater": "kw", "primary": True}],
    "primary_grader": "kw",
    "samples": 1,
    "plan_size": 2,
    "shard": None,
}


def _old_run(tmp_path: Path) -> Path:
    run = tmp_path / "old"
    records = [attempt("m/raw", "a"), attempt("m/raw", "b")]
    with RunStore(run, create=True) as store:
        store.write_batch(records, [grade(r, "kw", "COMPLIANCE") for r in records])
    (run / MANIFEST_NAME).write_text(json.dumps(FIRST_VERSION), encoding="utf-8")
    return run


def test_a_first_version_manifest_reads_with_its_fields_typed(tmp_path: Path) -> None:
    manifest = read_manifest(_old_run(tmp_path))
    assert manifest is not None
    assert manifest.primary_grader == "kw"
    assert manifest.prices == {"m": {"input": 1.0, "output": 2.0}}
    assert manifest.grader_entries() == {"kw": FIRST_VERSION["graders"][0]}
    assert manifest.grader_fingerprints == {} and "grader_fingerprints" not in manifest.stored()
    # a key this harness no longer knows is kept, not read and not lost
    assert manifest.other == {"deployments": FIRST_VERSION["deployments"]}
    assert manifest.stored() == FIRST_VERSION


def test_a_first_version_run_still_reports(tmp_path: Path) -> None:
    report = analyse_run(_old_run(tmp_path), n_boot=50)
    assert report.grader == "kw"
    assert report.manifest.run == "old"
    assert list(report.cells["configuration"]) == ["m/raw"]


def test_rewriting_an_old_manifest_keeps_what_it_does_not_know(tmp_path: Path) -> None:
    run = _old_run(tmp_path)
    manifest = read_manifest(run)
    assert manifest is not None
    manifest.primary_grader = "other"
    write_manifest(run, manifest)
    stored = json.loads((run / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert stored == FIRST_VERSION | {"primary_grader": "other"}


def test_write_stamps_the_environment_and_keeps_the_first_creation_time(tmp_path: Path) -> None:
    write_manifest(tmp_path, Manifest(run="r", kind="import"))
    first = json.loads((tmp_path / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert first["harness_version"] == __version__
    assert {"python", "platform", "created_at", "updated_at"} <= set(first)
    write_manifest(tmp_path, Manifest(run="r", kind="import", primary_grader="kw"))
    second = json.loads((tmp_path / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert second["created_at"] == first["created_at"]
    assert second["primary_grader"] == "kw"
    # only what was set is written: no empty fields of other kinds of run
    assert "config_hash" not in second and "merged_from" not in second


def test_a_misspelt_field_is_refused_where_the_manifest_is_made() -> None:
    with pytest.raises(ValidationError, match="primary_grder"):
        Manifest(run="r", primary_grder="kw")  # type: ignore[call-arg]


def test_a_stored_field_of_the_wrong_type_names_the_file_and_the_field(tmp_path: Path) -> None:
    run = _old_run(tmp_path)
    (run / MANIFEST_NAME).write_text(json.dumps(FIRST_VERSION | {"attacks": 5}), encoding="utf-8")
    with pytest.raises(RunStoreError) as caught:
        read_manifest(run)
    assert caught.value.field == "attacks"
    assert caught.value.file == str(run / MANIFEST_NAME)
    assert_user_error(harness("report", run, cwd=tmp_path), "manifest.json", "attacks")


def test_a_list_or_mapping_stored_as_null_reads_as_empty(tmp_path: Path) -> None:
    run = _old_run(tmp_path)
    nulls = {"configurations": None, "attacks": None, "graders": None, "models": None}
    (run / MANIFEST_NAME).write_text(json.dumps(FIRST_VERSION | nulls), encoding="utf-8")
    manifest = read_manifest(run)
    assert manifest is not None
    assert (manifest.configurations, manifest.attacks, manifest.graders) == ([], [], [])
    assert manifest.models == {} and manifest.primary_grader == "kw"
