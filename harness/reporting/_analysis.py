"""Everything `harness report` shows for one run, computed once."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness._errors import RunStoreError
from harness.annotate import (
    CONSENSUS,
    MAJORITY,
    annotation_raters,
    human_consensus,
    human_majority,
)
from harness.attacks import NO_ATTACK
from harness.grading import Label, ValidityCard, measure_validity
from harness.reporting._adaptive import adaptive_table
from harness.reporting._cells import (
    AGREEMENT_THRESHOLD,
    SMALL_N,
    UNREADABLE_SHARE,
    cell_table,
    success_codes,
)
from harness.reporting._comparisons import asr_matrix, comparisons, tool_gap
from harness.reporting._correction import corrected_rates
from harness.reporting._grader_agreement import grader_agreement, grader_labels
from harness.reporting._outcomes import (
    OUTCOMES,
    RunAttempts,
    attempt_outcomes,
    read_attempts,
    records,
)
from harness.reporting._reach import reach_warnings
from harness.reporting._validity import card_corrected_rates, grader_validity
from harness.stats import cohen_kappa
from harness.store import LOG_NAME, Manifest, RunStore, read_manifest

__all__ = ["RunReport", "analyse_run"]

# labels that decide something: an UNPARSEABLE grade or a missing one is not compared
_DECISIONS = frozenset(label.value for label in Label if label is not Label.UNPARSEABLE)


@dataclass
class RunReport:
    run_dir: Path
    manifest: Manifest
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
    # the primary grader's validity card, one line about it, and, when the run has no human
    # labels, the correction its sensitivity and specificity offer
    card: ValidityCard | None = None
    validity: str = ""
    card_corrections: pd.DataFrame = field(default_factory=pd.DataFrame)
    min_agreement: float = AGREEMENT_THRESHOLD
    # adaptive attacks (PAIR, Crescendo): their judge's success, queries to success, cost
    adaptive: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def flagged(self) -> list[str]:
        """`configuration (attack): flags` of every cell whose rates carry a flag."""
        return [
            f"{row['configuration']} ({row['attack']}): {row['flag']}"
            for row in records(self.cells)
            if row["flag"]
        ]

    @property
    def run_name(self) -> str:
        return str(self.manifest.run or self.run_dir.name)

    @property
    def commands(self) -> list[str]:
        """The commands that made the run and its stored grades, then this report's."""
        config = self.manifest.config_file
        commands = [str(c) for c in self.manifest.commands]
        if config:
            commands = [f"harness run {config}", *commands]
        return list(dict.fromkeys([*commands, f"harness report {self.run_dir} --format html"]))


def analyse_run(
    run_dir: Path,
    *,
    grader: str | None = None,
    reference: str | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    min_agreement: float = AGREEMENT_THRESHOLD,
) -> RunReport:
    """`min_agreement`: the Gwet's AC1 below which a cell's rates are flagged low_agreement."""
    if not 0 <= min_agreement <= 1:
        raise RunStoreError(
            f"the agreement threshold {min_agreement} is outside [0, 1]",
            field="--min-agreement",
            fix="pass a value between 0 and 1, e.g. 0.667",
        )
    manifest = read_manifest(run_dir)
    with RunStore(run_dir) as store:
        if manifest is None:
            raise RunStoreError(
                "the run has no manifest.json",
                file=run_dir,
                fix="pass a run directory written by harness run or import",
            )
        attempts = read_attempts(store, manifest)
        reach = reach_warnings(store, manifest)
        spend = store.spending_by_cell()
        adaptive = adaptive_table(store, manifest.prices)
    labels = attempts.labels
    if attempts.frame.empty:
        raise RunStoreError(
            "this run has no stored attempt: it stopped before its first answer was written",
            file=run_dir,
            fix=f"read {run_dir / LOG_NAME} (and the command's output) for why, fix it, "
            "and run the config again",
        )
    if not attempts.graders:
        answered = bool((attempts.frame["status"] == "OK").any())
        primary = grader or manifest.primary_grader
        if answered or not primary:
            raise RunStoreError(
                "this run has no grades yet",
                file=run_dir,
                fix="grade it first: harness grade RUN --grader refusal_keywords",
            )
        # nothing was answered (every attempt blocked or failed): there is nothing to grade,
        # and the blocks and errors are still the run's result
        labels = pd.DataFrame({str(primary): pd.Series(pd.NA, index=attempts.frame.index)})
        attempts = RunAttempts(attempts.frame, labels)
    chosen = grader or str(manifest.primary_grader or attempts.graders[0])
    frame = attempt_outcomes(attempts, chosen, where=run_dir)
    # per configuration: system prompt, safety layer, tools and provider-side layers
    descriptors = {c["name"]: c for c in manifest.configurations if "name" in c}
    # a deployment declared without tools cannot act: no action rate, not a rate of 0 (a
    # manifest that does not say, as older ones, leaves the stored outcome as it is)
    no_tools = [name for name, d in descriptors.items() if "tools" in d and not d["tools"]]
    frame["action"] = frame["action"].mask(frame["configuration"].isin(no_tools))
    people = annotation_raters(run_dir)
    imported_humans = _imported_humans(manifest, labels)
    if (
        reference is not None
        and reference not in labels.columns
        and not (reference == CONSENSUS and people)
        and not (reference == MAJORITY and imported_humans)
    ):
        raise RunStoreError(
            f"reference grader '{reference}' has no grades in this run "
            f"(graded by: {', '.join(map(str, labels.columns))})",
            file=run_dir,
            fix="pick one with --reference, or grade with `harness grade`",
        )
    reference = reference or _human_reference(manifest, labels, people, imported_humans)
    truth = labels
    if reference == CONSENSUS:  # the annotators' labels, settled: one reference column
        kept = labels.drop(columns=[c for c in labels.columns if c in people])
        truth = kept.assign(**{CONSENSUS: human_consensus(labels, people)})
    elif reference == MAJORITY:  # imported annotators (a benchmark's): most of them
        kept = labels.drop(columns=imported_humans)
        truth = kept.assign(**{MAJORITY: human_majority(labels, imported_humans)})
    prices = manifest.prices
    cells = cell_table(
        frame,
        labels,
        prices=prices,
        n_boot=n_boot,
        seed=seed,
        grader=chosen,
        min_agreement=min_agreement,
        spend=spend,
    )
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
            declared=manifest.declared_comparisons,
            n_boot=n_boot,
            seed=seed,
            cells=cells,
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
        min_agreement=min_agreement,
        adaptive=adaptive,
    )
    report.card, report.validity = grader_validity(manifest, chosen)
    if reference is not None and chosen in truth.columns and chosen != reference:
        here = _measured_here(frame, truth, chosen, reference)
        # a card's figures stay beside this run's; a note that only says "unvalidated" goes
        report.validity = f"{report.validity}; {here}" if report.card else here
    if reference is None and report.card is not None:
        report.card_corrections = card_corrected_rates(
            frame, labels, chosen, report.card, n_boot=n_boot, seed=seed
        )
    # the headline first: deployments that may not have reached the model, unreadable graders
    report.warnings = [
        *reach,
        *_unreadable_graders(frame, labels),
        *_warnings(report, descriptors),
    ]
    return report


def _unreadable_graders(frame: pd.DataFrame, labels: pd.DataFrame) -> list[str]:
    """Graders that could not read most of the answers they graded: the first warnings."""
    found = []
    ok = (frame["status"] == "OK").to_numpy()
    for grader in labels.columns:
        graded = labels.loc[ok, grader].dropna()
        unread = int((graded == Label.UNPARSEABLE.value).sum())
        if graded.size and unread / graded.size > UNREADABLE_SHARE:
            found.append(
                f"grader `{grader}` could not read its answers: {unread} of {graded.size} "
                "labels are UNPARSEABLE; no rate of this grader is shown where most are "
                f"(check its judge model and template: the grades' `error` and `raw` in "
                "`harness export`)"
            )
    return found


def _human_reference(
    manifest: Manifest,
    labels: pd.DataFrame,
    people: Mapping[str, str],
    imported_humans: Sequence[str] = (),
) -> str | None:
    """Human labels, where the run has them, are the reference for judge-error correction:
    a `human` grader's imported labels, else the consensus of the labels given on the
    `harness annotate` page (with any adjudication), else a benchmark's annotators that
    `harness import` read (the one, or the label most of them gave)."""
    for entry in manifest.graders:
        if entry.get("name") == "human" and entry.get("rater") in labels.columns:
            return str(entry["rater"])
    if any(rater in labels.columns for rater in people):
        return CONSENSUS
    if len(imported_humans) == 1:
        return imported_humans[0]
    return MAJORITY if imported_humans else None


def _imported_humans(manifest: Manifest, labels: pd.DataFrame) -> list[str]:
    """Raters `harness import` read as people's labels (e.g. HarmBench's annotators)."""
    return [
        str(entry["rater"])
        for entry in manifest.graders
        if entry.get("name") == "imported"
        and (entry.get("options") or {}).get("human")
        and entry.get("rater") in labels.columns
    ]


def _measured_here(frame: pd.DataFrame, truth: pd.DataFrame, grader: str, reference: str) -> str:
    """The grader against the run's own human reference, on the answers both labelled."""
    graded = truth.loc[frame.index[frame["status"] == "OK"], [grader, reference]]
    decided = graded[graded.isin(list(_DECISIONS)).all(axis=1)]
    try:
        card = measure_validity(
            decided[grader].astype(str).tolist(),
            decided[reference].astype(str).tolist(),
            grader=grader,
            dataset=f"this run, against `{reference}`",
        )
    except ValueError as exc:  # too few, or the humans all said the same
        return f"not measurable against this run's human labels (`{reference}`): {exc}"
    return f"measured against this run's human labels: {card.summary()}"


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
    """ " (attack X)" where a run has several attacks; nothing where it has one (a bare
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
    rows = records(report.cells)
    unvalidated = [r for r in rows if "unvalidated" in r["flag"].split(",")]
    if unvalidated and len(report.kappa) < 2:
        found.insert(
            0,
            f"every rate is unvalidated: the run has one grader (`{report.grader}`) and no "
            "second rater or human labels to check it against; add a second grader, or "
            "label a sample by hand (`harness grade RUN --grader h=human --option "
            "h.file=LABELS`)",
        )
        unvalidated_cells = False
    else:
        unvalidated_cells = True
    for row in rows:
        found += _cell_warnings(
            row, report.min_agreement, unvalidated_cells, several, report.reference
        )
    return found


def _cell_warnings(
    row: dict[str, Any],
    min_agreement: float,
    unvalidated_cells: bool,
    several: bool = True,
    reference: str | None = None,
) -> list[str]:
    cell = f"{row['configuration']}{_attack(row['attack'], several)}"
    found = []
    flags = row["flag"].split(",")
    if "unreadable" in flags:
        found.append(
            f"{cell}: the grader could not read {row['unparseable']} of its answers "
            f"({row['unreadable_share']:.0%}); its rates are not shown"
        )
    if "unvalidated" in flags and unvalidated_cells:
        found.append(
            f"{cell}: unvalidated: no second rater or human label on this cell to check its "
            "rates against"
        )
    if "low_agreement" in flags:
        found.append(
            f"{cell}: graders agree poorly (Gwet's AC1 {row['ac1']:.2f} < "
            f"{min_agreement:g}; {row['percent_agreement']:.1f}% agreement, alpha "
            f"{row['alpha']:.2f}); "
            + (
                f"read its rates beside the correction against `{reference}` below"
                if reference
                else "do not trust its rates without human labels"
            )
        )
    if "small_n" in flags:
        found.append(f"{cell}: only {row['valid']} valid attempts (< {SMALL_N})")
    lost = row["errors"] + row["unparseable"] + row["ungraded"] + row["no_tool_support"]
    if lost:
        found.append(
            f"{cell}: {lost} of {row['n']} attempts are outside every denominator "
            f"({row['errors']} errors, {row['unparseable']} unparseable, "
            f"{row['ungraded']} ungraded, {row['no_tool_support']} no tool support)"
        )
    return found
