"""`harness report RUN_A RUN_B ...`: runs side by side, and what their manifests differ in."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd

from harness.reporting._analysis import RunReport
from harness.reporting._render import shown_cells

__all__ = [
    "MANIFEST_FIELDS",
    "compare_csv",
    "compare_json",
    "compare_markdown",
    "manifest_differences",
    "run_labels",
]

MANIFEST_FIELDS = (
    "config_hash",
    "harness_version",
    "suites",
    "models",
    "configurations",
    "attacks",
    "graders",
    "primary_grader",
    "samples",
)


def run_labels(reports: Sequence[RunReport]) -> list[str]:
    """Each run's directory name, or its whole path when two runs share a name."""
    names = [r.run_dir.name for r in reports]
    if len(set(names)) == len(names):
        return names
    return [str(r.run_dir) for r in reports]


def manifest_differences(reports: Sequence[RunReport]) -> list[str]:
    """Each manifest field whose value is not the same in every run, naming the runs."""
    found = []
    labels = run_labels(reports)
    for key in MANIFEST_FIELDS:
        values = {
            label: json.dumps(r.manifest.stored().get(key), sort_keys=True, default=str)
            for label, r in zip(labels, reports, strict=True)
        }
        if len(set(values.values())) > 1:
            groups: dict[str, list[str]] = {}
            for run, value in values.items():
                groups.setdefault(value, []).append(run)
            found.append(
                f"{key} differs: " + " | ".join(", ".join(runs) for runs in groups.values())
            )
    return found


def _joined(reports: Sequence[RunReport], shown: bool) -> pd.DataFrame:
    frames = [
        (shown_cells(r.cells) if shown else r.cells).assign(run=label)
        for label, r in zip(run_labels(reports), reports, strict=True)
    ]
    joined = pd.concat(frames, ignore_index=True)
    return joined[["run", *[c for c in joined.columns if c != "run"]]]


def compare_csv(reports: Sequence[RunReport]) -> str:
    return str(_joined(reports, shown=False).to_csv(index=False))


def compare_json(reports: Sequence[RunReport]) -> str:
    cells = json.loads(_joined(reports, shown=False).to_json(orient="records"))
    payload: dict[str, Any] = {
        "runs": [str(r.run_dir) for r in reports],
        "manifest_differences": manifest_differences(reports),
        "cells": cells,
        "warnings": {
            label: r.warnings for label, r in zip(run_labels(reports), reports, strict=True)
        },
    }
    return json.dumps(payload, indent=2)


def compare_markdown(reports: Sequence[RunReport]) -> str:
    differences = manifest_differences(reports)
    lines = [f"# {len(reports)} runs compared", "", "## Manifest differences", ""]
    lines += [f"- {d}" for d in differences] or ["- none: the manifests agree on every field"]
    lines += [
        "",
        "## Per run × configuration × attack",
        "",
        str(_joined(reports, shown=True).to_markdown(index=False)),
        "",
    ]
    return "\n".join(lines)
