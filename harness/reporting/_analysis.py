"""Everything `harness report` shows for one run, computed once."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness._errors import RunStoreError
from harness.annotate import CONSENSUS, annotation_raters, human_consensus
from harness.attacks import NO_ATTACK
from harness.reporting._cells import ALPHA_THRESHOLD, SMALL_N, cell_table, success_codes
from harness.reporting._comparisons import asr_matrix, comparisons, tool_gap
from harness.reporting._correction import corrected_rates
from harness.reporting._grader_agreement import grader_agreement, grader_labels
from harness.reporting._outcomes import OUTCOMES, attempt_outcomes, read_attempts, records
from harness.stats import cohen_kappa
from harness.store import RunStore, read_manifest

__all__ = ["RunReport", "analyse_run"]


@dataclass
class RunReport:
    run_dir: Path
    manifest: dict[str, Any]
    grader: str
    reference: str | None
    cells: pd.DataFrame
    matrices: dict[str, pd.DataFrame]
    gaps: pd.DataFrame
    comparisons: pd.DataFrame
    corrections: pd.DataFrame
    kappa: pd.DataFrame
    outcomes: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    # pairs of graders: n, percent agreement, alpha, kappa, why any is n/a
    agreement: pd.DataFrame = field(default_factory=pd.DataFrame)
    # per grader: attempts decided, UNPARSEABLE, unlabelled
    grader_counts: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def run_name(self) -> str:
        return str(self.manifest.get("run") or self.run_dir.name)


def analyse_run(
    run_dir: Path,
    *,
    grader: str | None = None,
    reference: str | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> RunReport:
    manifest = read_manifest(run_dir)
    with RunStore(run_dir) as store:
        if manifest is None:
            raise RunStoreError(
                "the run has no manifest.json",
                file=run_dir,
                fix="pass a run directory written by harness run or import",
            )
        attempts = read_attempts(store, manifest)
    labels = attempts.labels
    if not attempts.graders:
        raise RunStoreError(
            "this run has no grades yet",
            file=run_dir,
            fix="grade it first: harness grade RUN --grader refusal_keywords",
        )
    chosen = grader or str(manifest.get("primary_grader") or attempts.graders[0])
    frame = attempt_outcomes(attempts, chosen, where=run_dir)
    people = annotation_raters(run_dir)
    if reference is not None and reference not in labels.columns and not (
        reference == CONSENSUS and people
    ):
        raise RunStoreError(
            f"reference grader '{reference}' has no grades in this run "
            f"(graded by: {', '.join(map(str, labels.columns))})",
            file=run_dir,
            fix="pick one with --reference, or grade with `harness grade`",
        )
    reference = reference or _human_reference(manifest, labels, people)
    truth = labels
    if reference == CONSENSUS:  # the annotators' labels, settled: one reference column
        kept = labels.drop(columns=[c for c in labels.columns if c in people])
        truth = kept.assign(**{CONSENSUS: human_consensus(labels, people)})
    # per configuration: system prompt, safety layer, tools and provider-side layers
    descriptors = {c["name"]: c for c in manifest.get("configurations") or [] if "name" in c}
    prices = (manifest.get("config") or {}).get("prices") or {}
    cells = cell_table(frame, labels, prices=prices, n_boot=n_boot, seed=seed)
    report = RunReport(
        run_dir=run_dir,
        manifest=manifest,
        grader=chosen,
        reference=reference,
        cells=cells,
        matrices={str(a): asr_matrix(cells, str(a)) for a in dict.fromkeys(cells["attack"])},
        gaps=tool_gap(cells, {d["deployment"] for d in descriptors.values() if d.get("tools")}),
        comparisons=comparisons(
            frame,
            descriptors,
            declared=(manifest.get("config") or {}).get("comparisons") or [],
            n_boot=n_boot,
            seed=seed,
        ),
        corrections=(
            corrected_rates(frame, truth, reference, n_boot=n_boot, seed=seed)
            if reference
            else pd.DataFrame()
        ),
        kappa=_kappa_matrix(labels),
        outcomes=_outcome_counts(frame),
        agreement=grader_agreement(labels),
        grader_counts=grader_labels(labels, frame["status"] == "OK"),
    )
    report.warnings = _warnings(report, descriptors)
    return report


def _human_reference(
    manifest: dict[str, Any], labels: pd.DataFrame, people: Mapping[str, str]
) -> str | None:
    """Human labels, where the run has them, are the reference for judge-error correction:
    a `human` grader's imported labels, else the consensus of the labels given on the
    `harness annotate` page (with any adjudication)."""
    for entry in manifest.get("graders", []):
        if entry.get("name") == "human" and entry.get("rater") in labels.columns:
            return str(entry["rater"])
    if any(rater in labels.columns for rater in people):
        return CONSENSUS
    return None


def _kappa_matrix(labels: pd.DataFrame) -> pd.DataFrame:
    codes = success_codes(labels)
    names = [str(c) for c in codes.columns]
    matrix = pd.DataFrame(1.0, index=names, columns=names)
    for a, b in itertools.combinations(names, 2):
        matrix.loc[a, b] = matrix.loc[b, a] = cohen_kappa(codes[a], codes[b])
    return matrix


def _outcome_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Outcomes of every attempt of each cell (every status included), with `harmful`, for
    the stacked bars of harmful items and the over-refusal bars of benign items."""
    counts = frame.groupby(["configuration", "attack", "harmful"], sort=False, observed=True)[
        "outcome"
    ].value_counts()
    table = counts.unstack(fill_value=0).reindex(columns=OUTCOMES, fill_value=0)
    return table.reset_index()


def _attack(attack: Any, several: bool) -> str:
    """" (attack X)" where a run has several attacks; nothing where it has one (a bare
    "(none)" beside a comparison reads like "no difference")."""
    if not several:
        return ""
    return f" (attack {'no attack' if str(attack) == NO_ATTACK else attack})"


def _warnings(report: RunReport, descriptors: dict[str, Any]) -> list[str]:
    found = []
    several = report.cells["attack"].nunique() > 1
    for pair in records(report.comparisons):
        if not pair["like_for_like"]:
            label = f" [{pair['label']}]" if pair.get("label") else ""
            found.append(
                f"not like for like: {pair['a']} vs {pair['b']}"
                f"{_attack(pair['attack'], several)}{label} "
                f"differ in {pair['differs'].replace(',', ', ')}; "
                "the gap is not a property of the models"
            )
    for name, descriptor in descriptors.items():
        layers = [layer.get("name") for layer in descriptor.get("provider_side_layers") or []]
        if layers:
            found.append(
                f"{name} has provider-side layers we cannot switch off: "
                f"{', '.join(map(str, layers))}"
            )
    for row in records(report.cells):
        found += _cell_warnings(row, several)
    return found


def _cell_warnings(row: dict[str, Any], several: bool = True) -> list[str]:
    cell = f"{row['configuration']}{_attack(row['attack'], several)}"
    found = []
    if "low_agreement" in row["flag"]:
        found.append(
            f"{cell}: graders agree poorly (alpha {row['alpha']:.2f} < "
            f"{ALPHA_THRESHOLD}); do not trust its rates without human labels"
        )
    if "small_n" in row["flag"]:
        found.append(f"{cell}: only {row['valid']} valid attempts (< {SMALL_N})")
    lost = row["errors"] + row["unparseable"] + row["ungraded"] + row["no_tool_support"]
    if lost:
        found.append(
            f"{cell}: {lost} of {row['n']} attempts are outside every denominator "
            f"({row['errors']} errors, {row['unparseable']} unparseable, "
            f"{row['ungraded']} ungraded, {row['no_tool_support']} no tool support)"
        )
    return found
