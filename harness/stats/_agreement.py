"""Inter-rater agreement: Krippendorff's alpha, Fleiss' and Cohen's kappa, and rates against a
reference rater.

Label data is a DataFrame with one row per unit (attempt, completion) and one column per rater;
a missing value (NaN/None) means the rater did not rate that unit. Two decisions change the
numbers and are therefore explicit and reported with every result:

* the collapse: which raw labels count as the same category (e.g. `binary_success`);
* the undecidable policy: what to do with labels that are not a judgement (UNPARSEABLE, an
  empty string, or anything outside a declared label set, such as a judge's free text).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypedDict

import krippendorff
import numpy as np
import pandas as pd

from harness._errors import DataError, UserError
from harness.core import SUCCESS_BROAD, SUCCESS_STRICT, Label
from harness.stats._choices import Level

__all__ = [
    "COLLAPSES",
    "UNDECIDABLE",
    "Collapse",
    "KappaParts",
    "ReferenceRates",
    "binary_vs_reference",
    "bootstrap_alpha_ci",
    "cohen_from_table",
    "cohen_kappa",
    "confusion_matrix",
    "fleiss_from_counts",
    "fleiss_kappa",
    "gwet_ac1",
    "gwet_from_counts",
    "key_or_nan",
    "krippendorff_alpha",
    "label_key",
    "observed_agreement",
    "percent_agreement",
    "resolve_collapse",
]

# the category undecidable labels become under the as_category policy
UNDECIDABLE = "UNDECIDABLE"
_POSITIVE = {"1", "true", "success"}
_NEGATIVE = {"0", "false", "failure"}


class ReferenceRates(TypedDict):
    """A rater against a reference (`binary_vs_reference`); NaN where undefined."""

    n: int
    agreement: float
    cohen_kappa: float
    fpr: float
    fnr: float
    precision: float
    recall: float


class KappaParts(NamedTuple):
    """A chance-corrected agreement: kappa = (p_o - p_e) / (1 - p_e)."""

    kappa: float
    p_o: float  # observed agreement (Fleiss' P-bar)
    p_e: float  # agreement expected by chance


# ---------------------------------------------------------------------------------------------
# collapses


@dataclass(frozen=True)
class Collapse:
    """A named many-to-one relabelling; `mapping=None` keeps labels as they are."""

    name: str
    mapping: Mapping[str, Hashable | None] | None = None

    def apply(self, values: pd.Series[Any]) -> pd.Series[Any]:
        """Relabel present values; a label the mapping does not know is a user error."""
        if self.mapping is None:
            return values
        mapping = self.mapping
        present = values.dropna()
        unknown = sorted({label_key(v) for v in present} - set(mapping))
        if unknown:
            raise DataError(
                f"label {unknown[0]!r} (column {values.name!r}) is not in collapse {self.name!r}",
                fix=f"add it to the mapping, or use one of: {', '.join(sorted(mapping))}",
            )
        # object dtype: the mapped values may mix numbers and strings
        out = pd.Series(None, index=values.index, dtype=object, name=values.name)
        out[present.index] = [mapping[label_key(v)] for v in present]
        return out


def _binary(success: frozenset[Label]) -> dict[str, Hashable | None]:
    mapping: dict[str, Hashable | None] = {label.value: int(label in success) for label in Label}
    mapping[Label.UNPARSEABLE.value] = None  # the grader could not decide: not a 0
    return mapping


COLLAPSES: dict[str, Collapse] = {
    "none": Collapse("none"),
    "binary_success": Collapse("binary_success", _binary(SUCCESS_STRICT)),
    "binary_success_broad": Collapse("binary_success_broad", _binary(SUCCESS_BROAD)),
}


def resolve_collapse(collapse: str | Collapse) -> Collapse:
    if isinstance(collapse, Collapse):
        return collapse
    if collapse not in COLLAPSES:
        raise UserError(
            f"unknown collapse {collapse!r}",
            field="collapse",
            fix=f"use one of {', '.join(COLLAPSES)}, or a mapping file",
        )
    return COLLAPSES[collapse]


def key_or_nan(value: Any) -> Any:
    """`label_key` of a present value; a missing one stays missing."""
    return value if pd.isna(value) else label_key(value)


def label_key(value: Any) -> str:
    """A label as text, so 1, 1.0 and "1" (int, float and string columns) are one category."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# ---------------------------------------------------------------------------------------------
# Krippendorff's alpha


def krippendorff_alpha(
    frame: pd.DataFrame,
    raters: Sequence[str],
    level: Level = "nominal",
    order: Sequence[str] | None = None,
) -> float:
    """Alpha over every unit (units rated once add nothing); NaN when undefined."""
    return _alpha(_reliability(frame, raters, level, order), level)


def bootstrap_alpha_ci(
    frame: pd.DataFrame,
    raters: Sequence[str],
    level: Level = "nominal",
    order: Sequence[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval from resampling units with replacement; replicates where alpha is
    undefined (e.g. one category drawn) are dropped. (nan, nan) when none is defined."""
    data = _reliability(frame, raters, level, order)
    n_units = data.shape[1]
    if n_boot <= 0 or n_units == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    draws = np.array(
        [_alpha(data[:, rng.integers(0, n_units, n_units)], level) for _ in range(n_boot)]
    )
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return math.nan, math.nan
    tail = (1 - confidence) / 2
    low, high = np.quantile(finite, [tail, 1 - tail])
    return float(low), float(high)


def _alpha(data: np.ndarray[Any, np.dtype[np.float64]], level: Level) -> float:
    rated = ~np.isnan(data)
    pairable = rated.sum(axis=0) >= 2
    values = np.unique(data[:, pairable][rated[:, pairable]])
    # one category (or no unit rated twice): expected disagreement is 0 and alpha is undefined
    if values.size < 2:
        return math.nan
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(krippendorff.alpha(reliability_data=data, level_of_measurement=level))


def _reliability(
    frame: pd.DataFrame, raters: Sequence[str], level: Level, order: Sequence[str] | None
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Coders x units floats (NaN = missing), the layout the krippendorff package expects."""
    data = frame[list(raters)]
    if level in ("interval", "ratio"):
        codes = _numeric(data.astype(object))
    elif order is not None:
        codes = _codes(data, {label_key(v): i for i, v in enumerate(order)}, "order")
    elif level == "ordinal":
        fix = "give the order of the labels (--order L1,L2,...)"
        codes = _numeric(data.astype(object), fix=fix)
    else:
        keys = sorted({label_key(v) for name in data.columns for v in _distinct(data[name])})
        codes = _codes(data, {k: i for i, k in enumerate(keys)}, "labels")
    return codes.to_numpy(dtype=float).T


def _distinct(column: pd.Series[Any]) -> list[Any]:
    return list(pd.unique(column.dropna()))


def _codes(data: pd.DataFrame, codes: Mapping[str, int], what: str) -> pd.DataFrame:
    """Each label's code, looked up once per distinct value rather than once per cell (a
    report computes this over every attempt of every cell)."""
    coded = {}
    for name in data.columns:
        lookup: dict[Any, float] = {}
        for value in _distinct(data[name]):
            key = label_key(value)
            if key not in codes:
                raise DataError(
                    f"label {key!r} is not in the {what} ({', '.join(codes)})",
                    fix="list every label in the order",
                )
            lookup[value] = float(codes[key])
        coded[name] = data[name].map(lookup).astype(float)
    return pd.DataFrame(coded, index=data.index)


def _numeric(data: pd.DataFrame, fix: str = "use --level nominal") -> pd.DataFrame:
    try:
        return pd.DataFrame({c: pd.to_numeric(data[c], errors="raise") for c in data.columns})
    except (ValueError, TypeError) as exc:
        raise DataError(f"labels are not numbers: {exc}", fix=fix) from None


# ---------------------------------------------------------------------------------------------
# kappas and pairwise statistics


def fleiss_from_counts(counts: Any) -> KappaParts:
    """Fleiss (1971) from a units x categories matrix of counts, every unit with n >= 2 ratings."""
    table = np.asarray(counts, dtype=float)
    if table.size == 0:
        return KappaParts(math.nan, math.nan, math.nan)
    n = table.sum(axis=1)
    if np.any(n != n[0]) or n[0] < 2:
        raise ValueError("Fleiss' kappa needs the same number (>= 2) of ratings for every unit")
    p_j = table.sum(axis=0) / table.sum()
    p_bar = float(((table * (table - 1)).sum(axis=1) / (n * (n - 1))).mean())
    p_e = float((p_j**2).sum())
    return KappaParts(_chance_corrected(p_bar, p_e), p_bar, p_e)


def fleiss_kappa(frame: pd.DataFrame, raters: Sequence[str]) -> float:
    """Fleiss' kappa over the units every rater rated (with 2 raters: Scott's pi)."""
    complete = frame[list(raters)].dropna().astype(object).map(label_key)
    if complete.empty:
        return math.nan
    categories = sorted(set(complete.stack()))
    counts = np.column_stack([(complete == c).sum(axis=1) for c in categories])
    return fleiss_from_counts(counts).kappa


def gwet_from_counts(counts: Any, categories: int | None = None) -> KappaParts:
    """Gwet's AC1 from a units x categories matrix of rating counts (units may have different
    numbers of raters; missing ratings are simply not counted).

    Gwet KL, "Computing inter-rater reliability and its variance in the presence of high
    agreement", Br J Math Stat Psychol 2008;61:29-48; with missing ratings as in Gwet,
    Handbook of Inter-Rater Reliability, 4th ed. 2014, eqs. 2.4 and 4.4:

        p_a = mean over units rated twice or more of sum_k r_ik (r_ik - 1) / (r_i (r_i - 1)),
        pi_k = mean over units rated at least once of r_ik / r_i,
        p_e = sum_k pi_k (1 - pi_k) / (q - 1),   AC1 = (p_a - p_e) / (1 - p_e).

    Unlike kappa and alpha it does not fall to zero when nearly every rating is one category
    (the "kappa paradox", Feinstein & Cicchetti 1990): 39 of 40 units agreed on is AC1 ~ 0.97.
    `categories` is q, the size of the label set (default: the columns of `counts`).
    """
    table = np.asarray(counts, dtype=float)
    q = table.shape[1] if table.ndim == 2 else 0
    q = categories if categories is not None else q
    if table.ndim != 2 or table.size == 0 or q < 2:
        return KappaParts(math.nan, math.nan, math.nan)
    raters = table.sum(axis=1)
    paired = raters >= 2
    if not paired.any():
        return KappaParts(math.nan, math.nan, math.nan)
    rated = table[paired]
    r = raters[paired]
    p_a = float(((rated * (rated - 1)).sum(axis=1) / (r * (r - 1))).mean())
    seen = raters >= 1
    pi = (table[seen] / raters[seen, None]).mean(axis=0)
    p_e = float((pi * (1 - pi)).sum() / (q - 1))
    return KappaParts(_chance_corrected(p_a, p_e), p_a, p_e)


def gwet_ac1(
    frame: pd.DataFrame, raters: Sequence[str], categories: Sequence[Any] | None = None
) -> float:
    """Gwet's AC1 of `raters` (columns of `frame`, NaN = not rated); `categories`: the label
    set (default: the labels seen), whose size is q."""
    return _gwet(frame, raters, categories).kappa


def observed_agreement(frame: pd.DataFrame, raters: Sequence[str]) -> float:
    """Percent (0-100) agreement of any number of raters: over the units rated at least
    twice, the share of agreeing rater pairs (with two raters, plain percent agreement)."""
    parts = _gwet(frame, raters, None)
    return math.nan if math.isnan(parts.p_o) else 100 * parts.p_o


def _gwet(
    frame: pd.DataFrame, raters: Sequence[str], categories: Sequence[Any] | None
) -> KappaParts:
    keys = frame[list(raters)].astype(object).map(key_or_nan)
    labels = (
        [label_key(c) for c in categories]
        if categories is not None
        else sorted(set(keys.stack().dropna()), key=str)
    )
    if not labels:
        return KappaParts(math.nan, math.nan, math.nan)
    counts = np.column_stack([(keys == label).sum(axis=1) for label in labels])
    # one category seen and no label set given: agreement is total, chance agreement unknown
    q = max(len(labels), 2)
    return gwet_from_counts(counts, q)


def cohen_from_table(table: Any) -> KappaParts:
    """Cohen (1960) from a square contingency table (rows rater a, columns rater b)."""
    counts = np.asarray(table, dtype=float)
    total = counts.sum()
    if total == 0:
        return KappaParts(math.nan, math.nan, math.nan)
    p_o = float(np.trace(counts) / total)
    p_e = float(counts.sum(axis=1) @ counts.sum(axis=0) / total**2)
    return KappaParts(_chance_corrected(p_o, p_e), p_o, p_e)


def cohen_kappa(a: pd.Series[Any], b: pd.Series[Any]) -> float:
    """Cohen's kappa over the units both raters rated."""
    return cohen_from_table(confusion_matrix(a, b).to_numpy()).kappa


def percent_agreement(a: pd.Series[Any], b: pd.Series[Any]) -> float:
    """Percent (0-100) of the units both raters rated on which they gave the same label."""
    left, right = _pairs(a, b)
    return math.nan if left.empty else float(100 * (left == right).mean())


def confusion_matrix(
    a: pd.Series[Any], b: pd.Series[Any], labels: Sequence[Any] | None = None
) -> pd.DataFrame:
    """Counts of (a's label, b's label) over units both rated; rows a, columns b."""
    left, right = _pairs(a, b)
    categories = list(labels) if labels is not None else sorted({*left, *right}, key=label_key)
    table = pd.crosstab(left, right).reindex(index=categories, columns=categories, fill_value=0)
    table.index.name, table.columns.name = str(a.name), str(b.name)
    return table.astype(int)


def binary_vs_reference(pred: pd.Series[Any], ref: pd.Series[Any]) -> ReferenceRates:
    """Agreement with a reference rater; positive = success (1/True/"success").

    The error rates need binary labels: they are NaN when any label is neither positive nor
    negative, and computed over the pairs where both are decidable when the as_category policy
    added an UNDECIDABLE category.
    """
    left, right = _pairs(pred, ref)
    fpr, fnr, precision, recall = _binary_rates(left, right)
    return ReferenceRates(
        n=len(left),
        agreement=math.nan if left.empty else float((left == right).mean()),
        cohen_kappa=cohen_kappa(left, right),
        fpr=fpr,
        fnr=fnr,
        precision=precision,
        recall=recall,
    )


def _binary_rates(pred: pd.Series[Any], ref: pd.Series[Any]) -> tuple[float, float, float, float]:
    """False positive and negative rates, precision and recall; NaN unless labels are binary."""
    decided = (pred.map(label_key) != UNDECIDABLE) & (ref.map(label_key) != UNDECIDABLE)
    p = pred[decided].map(lambda v: label_key(v).lower())
    r = ref[decided].map(lambda v: label_key(v).lower())
    if not set(p) | set(r) <= _POSITIVE | _NEGATIVE:
        return math.nan, math.nan, math.nan, math.nan
    p_pos, r_pos = p.isin(_POSITIVE), r.isin(_POSITIVE)
    tp, fp = int((p_pos & r_pos).sum()), int((p_pos & ~r_pos).sum())
    fn, tn = int((~p_pos & r_pos).sum()), int((~p_pos & ~r_pos).sum())
    return _ratio(fp, fp + tn), _ratio(fn, fn + tp), _ratio(tp, tp + fp), _ratio(tp, tp + fn)


def _pairs(a: pd.Series[Any], b: pd.Series[Any]) -> tuple[pd.Series[Any], pd.Series[Any]]:
    both = a.notna() & b.notna()
    return a[both], b[both]


def _chance_corrected(observed: float, expected: float) -> float:
    # expected agreement 1 means every rating fell in one category: kappa is undefined
    return math.nan if expected >= 1 else (observed - expected) / (1 - expected)


def _ratio(num: int, den: int) -> float:
    return num / den if den else math.nan
