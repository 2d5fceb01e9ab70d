"""Every agreement statistic of a label table at once, as a typed result.

The two decisions that change the numbers (the collapse and the undecidable policy) are part of
the result, so a summary always says how it was computed. Rendering it (JSON, Markdown, the
lines `harness run` prints) is the reporting package's job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import pandas as pd

from harness._errors import DataError, UserError
from harness.core import Label
from harness.stats._agreement import (
    UNDECIDABLE,
    Collapse,
    ReferenceRates,
    binary_vs_reference,
    bootstrap_alpha_ci,
    cohen_kappa,
    confusion_matrix,
    fleiss_kappa,
    gwet_ac1,
    key_or_nan,
    krippendorff_alpha,
    label_key,
    observed_agreement,
    percent_agreement,
    resolve_collapse,
)
from harness.stats._choices import LEVELS, POLICIES, Level, UndecidablePolicy

__all__ = [
    "AgreementSummary",
    "Bootstrap",
    "Confusion",
    "GroupedAgreement",
    "PairAgreement",
    "PolicyCounts",
    "RaterVsReference",
    "agreement_summary",
    "require_columns",
]

_UNDECIDABLE_WORDS = {"", Label.UNPARSEABLE.value}


@dataclass(frozen=True)
class PolicyCounts:
    """What the undecidable policy did: per column, undecidable and missing labels."""

    name: UndecidablePolicy
    undecidable: dict[str, int]
    missing: dict[str, int]
    units_affected: int


@dataclass(frozen=True)
class Bootstrap:
    """How alpha's interval was drawn."""

    n: int
    seed: int
    confidence: float


@dataclass(frozen=True)
class PairAgreement:
    """Two raters over the units both rated; NaN where a statistic is undefined."""

    a: str
    b: str
    n: int
    percent_agreement: float
    cohen_kappa: float
    gwet_ac1: float


@dataclass(frozen=True)
class Confusion:
    """Counts of (a's label, b's label): rows a, columns b, both in `labels` order."""

    a: str
    b: str
    labels: list[str]
    matrix: list[list[int]]


@dataclass(frozen=True)
class RaterVsReference:
    """One rater against the reference column."""

    rater: str
    n: int
    agreement: float
    cohen_kappa: float
    fpr: float
    fnr: float
    precision: float
    recall: float


@dataclass(frozen=True)
class AgreementSummary:
    """Agreement of `raters` over one table (NaN where a statistic is undefined)."""

    n: int
    n_complete: int  # units every rater rated
    raters: list[str]
    reference: str | None
    collapse: str  # the collapse's name
    level: Level
    order: list[str] | None
    policy: PolicyCounts
    labels: list[str]  # the categories the raters used, after the collapse
    krippendorff_alpha: float
    krippendorff_alpha_ci: tuple[float, float]
    bootstrap: Bootstrap
    fleiss_kappa: float
    gwet_ac1: float
    percent_agreement: float
    pairs: list[PairAgreement]
    confusion: list[Confusion]
    vs_reference: list[RaterVsReference] | None  # None without a reference


@dataclass(frozen=True)
class GroupedAgreement:
    """The overall summary and one per value of the `group_by` column."""

    group_by: str
    overall: AgreementSummary
    groups: dict[str, AgreementSummary]


@dataclass(frozen=True)
class _Options:
    raters: list[str]
    reference: str | None
    collapse: Collapse
    level: Level
    order: list[str] | None
    labels: Sequence[str] | None
    policy: UndecidablePolicy
    n_boot: int
    seed: int
    confidence: float

    @property
    def numeric(self) -> bool:
        """Interval and ratio alpha use the label values themselves, not categories."""
        return self.level in ("interval", "ratio")


@dataclass(frozen=True)
class _Prepared:
    labels: pd.DataFrame  # collapsed labels after the policy, units x columns
    policy: PolicyCounts


def require_columns(
    frame: pd.DataFrame, columns: Sequence[str], *, file: str | Path | None = None
) -> None:
    """Every named column exists (a user error naming the missing one otherwise)."""
    for column in columns:
        if column not in frame.columns:
            raise DataError(
                f"no column {column!r} in the table "
                f"(columns: {', '.join(map(str, frame.columns))})",
                file=file,
                fix="name existing columns",
            )


@overload
def agreement_summary(
    frame: pd.DataFrame,
    raters: Sequence[str],
    *,
    reference: str | None = ...,
    collapse: str | Collapse = ...,
    level: Level = ...,
    order: Sequence[str] | None = ...,
    labels: Sequence[str] | None = ...,
    policy: UndecidablePolicy = ...,
    n_boot: int = ...,
    seed: int = ...,
    confidence: float = ...,
    group_by: None = ...,
) -> AgreementSummary: ...


@overload
def agreement_summary(
    frame: pd.DataFrame,
    raters: Sequence[str],
    *,
    reference: str | None = ...,
    collapse: str | Collapse = ...,
    level: Level = ...,
    order: Sequence[str] | None = ...,
    labels: Sequence[str] | None = ...,
    policy: UndecidablePolicy = ...,
    n_boot: int = ...,
    seed: int = ...,
    confidence: float = ...,
    group_by: str,
) -> GroupedAgreement: ...


@overload
def agreement_summary(
    frame: pd.DataFrame,
    raters: Sequence[str],
    *,
    reference: str | None = ...,
    collapse: str | Collapse = ...,
    level: Level = ...,
    order: Sequence[str] | None = ...,
    labels: Sequence[str] | None = ...,
    policy: UndecidablePolicy = ...,
    n_boot: int = ...,
    seed: int = ...,
    confidence: float = ...,
    group_by: str | None = ...,
) -> AgreementSummary | GroupedAgreement: ...


def agreement_summary(
    frame: pd.DataFrame,
    raters: Sequence[str],
    *,
    reference: str | None = None,
    collapse: str | Collapse = "none",
    level: Level = "nominal",
    order: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    policy: UndecidablePolicy = "as_missing",
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    group_by: str | None = None,
) -> AgreementSummary | GroupedAgreement:
    """Every agreement statistic of `raters`; with `group_by`, also one summary per value.

    Undecidable values are UNPARSEABLE, empty strings, labels a collapse maps to null and, when
    `labels` (the valid raw labels) is given, any other value. `policy` decides what they are:
    `as_missing` (missing for that rater only), `exclude` (drop the unit for every column,
    reference included) or `as_category` (an UNDECIDABLE category, nominal level only). The
    reference is compared with each rater and does not enter alpha or kappa; its fpr, fnr,
    precision and recall are NaN unless the labels are binary (1/0, true/false,
    success/failure).
    """
    _check_arguments(frame, raters, reference, level, policy, group_by)
    options = _Options(
        list(raters),
        reference,
        resolve_collapse(collapse),
        level,
        list(order) if order is not None else None,
        labels,
        policy,
        n_boot,
        seed,
        confidence,
    )
    overall = _summary(frame, options)
    if group_by is None:
        return overall
    groups = {
        label_key(key): _summary(group, options)
        for key, group in frame.groupby(group_by, sort=True, dropna=False)
    }
    return GroupedAgreement(group_by, overall, groups)


def _check_arguments(
    frame: pd.DataFrame,
    raters: Sequence[str],
    reference: str | None,
    level: str,
    policy: str,
    group_by: str | None,
) -> None:
    if len(raters) < 2 or len(set(raters)) != len(raters):
        raise UserError(
            f"agreement needs at least two different raters (got {', '.join(raters) or 'none'})",
            fix="name two or more rater columns",
        )
    extra = [c for c in (reference, group_by) if c is not None]
    require_columns(frame, [*raters, *extra])
    if level not in LEVELS:
        raise UserError(f"unknown level {level!r}", fix=f"use one of {', '.join(LEVELS)}")
    if policy not in POLICIES:
        raise UserError(f"unknown policy {policy!r}", fix=f"use one of {', '.join(POLICIES)}")
    if policy == "as_category" and level != "nominal":
        # an undecidable label has no place on an ordered or numeric scale
        raise UserError("the as_category policy needs the nominal level", fix="use --level nominal")


def _summary(frame: pd.DataFrame, options: _Options) -> AgreementSummary:
    raters, reference = options.raters, options.reference
    columns = [*raters, *([reference] if reference and reference not in raters else [])]
    prepared = _prepare(frame, columns, options.collapse, options.labels, options.policy)
    # categorical statistics compare labels as text so 1 and 1.0 are one category
    keys = prepared.labels.map(key_or_nan)
    alpha_data = prepared.labels if options.numeric else keys
    level, order = options.level, options.order
    vs_reference = None
    if reference is not None:
        vs_reference = [
            _versus(r, binary_vs_reference(keys[r], keys[reference]))
            for r in raters
            if r != reference
        ]
    return AgreementSummary(
        n=len(keys),
        n_complete=int(keys[raters].notna().all(axis=1).sum()),
        raters=raters,
        reference=reference,
        collapse=options.collapse.name,
        level=level,
        order=order,
        policy=prepared.policy,
        labels=_labels(keys, raters),
        krippendorff_alpha=krippendorff_alpha(alpha_data, raters, level, order),
        krippendorff_alpha_ci=bootstrap_alpha_ci(
            alpha_data, raters, level, order, options.n_boot, options.seed, options.confidence
        ),
        bootstrap=Bootstrap(options.n_boot, options.seed, options.confidence),
        fleiss_kappa=fleiss_kappa(keys, raters),
        gwet_ac1=gwet_ac1(keys, raters),
        percent_agreement=observed_agreement(keys, raters),
        pairs=_pairs(keys, raters),
        confusion=_confusions(keys, raters),
        vs_reference=vs_reference,
    )


def _versus(rater: str, rates: ReferenceRates) -> RaterVsReference:
    return RaterVsReference(rater, **rates)


def _labels(keys: pd.DataFrame, raters: list[str]) -> list[str]:
    return sorted({str(v) for v in keys[raters].stack().dropna()}, key=str)


def _prepare(
    frame: pd.DataFrame,
    columns: list[str],
    collapse: Collapse,
    labels: Sequence[str] | None,
    policy: UndecidablePolicy,
) -> _Prepared:
    raw = frame[columns].astype(object)
    valid = {label_key(v) for v in labels} if labels is not None else None
    undecidable = raw.apply(lambda column: _undecidable(column, valid))
    collapsed = raw.where(~undecidable).apply(collapse.apply)
    # a collapse may send a label to null or UNPARSEABLE: undecidable as well
    undecidable |= raw.notna() & (collapsed.isna() | collapsed.apply(_undecidable, valid=None))
    affected = undecidable.any(axis=1)
    counts = PolicyCounts(
        name=policy,
        undecidable={c: int(undecidable[c].sum()) for c in columns},
        missing={c: int(raw[c].isna().sum()) for c in columns},
        units_affected=int(affected.sum()),
    )
    if policy == "as_category":
        return _Prepared(collapsed.mask(undecidable, UNDECIDABLE), counts)
    collapsed = collapsed.where(~undecidable)  # as_missing
    return _Prepared(collapsed[~affected] if policy == "exclude" else collapsed, counts)


def _undecidable(column: pd.Series[Any], valid: set[str] | None) -> pd.Series[bool]:
    def judged_not(value: Any) -> bool:
        if pd.isna(value):
            return False  # not rated: missing, not undecidable
        key = label_key(value)
        return key.upper() in _UNDECIDABLE_WORDS or (valid is not None and key not in valid)

    return column.map(judged_not).astype(bool)


def _pairs(keys: pd.DataFrame, raters: list[str]) -> list[PairAgreement]:
    return [
        PairAgreement(
            a=a,
            b=b,
            n=int((keys[a].notna() & keys[b].notna()).sum()),
            percent_agreement=percent_agreement(keys[a], keys[b]),
            cohen_kappa=cohen_kappa(keys[a], keys[b]),
            gwet_ac1=gwet_ac1(keys, [a, b]),
        )
        for a, b in _combinations(raters)
    ]


def _confusions(keys: pd.DataFrame, raters: list[str]) -> list[Confusion]:
    labels = _labels(keys, raters)
    return [
        Confusion(a, b, labels, confusion_matrix(keys[a], keys[b], labels).to_numpy().tolist())
        for a, b in _combinations(raters)
    ]


def _combinations(raters: list[str]) -> list[tuple[str, str]]:
    return [(a, b) for i, a in enumerate(raters) for b in raters[i + 1 :]]
