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

import json
import math
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple, get_args

import krippendorff
import numpy as np
import pandas as pd
import yaml

from harness._errors import DataError, UserError
from harness.core import SUCCESS_BROAD, SUCCESS_STRICT, Label

__all__ = [
    "COLLAPSES",
    "LEVELS",
    "POLICIES",
    "UNDECIDABLE",
    "Collapse",
    "KappaParts",
    "Level",
    "UndecidablePolicy",
    "agreement_markdown",
    "agreement_report",
    "binary_vs_reference",
    "bootstrap_alpha_ci",
    "cohen_from_table",
    "cohen_kappa",
    "confusion_matrix",
    "fleiss_from_counts",
    "fleiss_kappa",
    "gwet_ac1",
    "gwet_from_counts",
    "jsonable",
    "krippendorff_alpha",
    "label_key",
    "load_collapse_map",
    "observed_agreement",
    "percent_agreement",
    "require_columns",
    "resolve_collapse",
]

Level = Literal["nominal", "ordinal", "interval", "ratio"]
UndecidablePolicy = Literal["exclude", "as_missing", "as_category"]
LEVELS: tuple[Level, ...] = get_args(Level)
POLICIES: tuple[UndecidablePolicy, ...] = get_args(UndecidablePolicy)
# the category undecidable labels become under the as_category policy
UNDECIDABLE = "UNDECIDABLE"
_UNDECIDABLE_WORDS = {"", Label.UNPARSEABLE.value}
_POSITIVE = {"1", "true", "success"}
_NEGATIVE = {"0", "false", "failure"}
_YAML_NULLS = {"", "~", "null", "Null", "NULL"}


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


def load_collapse_map(path: Path) -> Collapse:
    """A `{raw_label: collapsed_label}` YAML or JSON file; null means undecidable."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read the label map: {exc.strerror}", file=path) from None
    try:
        # BaseLoader reads every scalar as text: YAML 1.1 would turn a label `no` into False
        loaded = (
            json.loads(text)
            if path.suffix.lower() == ".json"
            else yaml.load(text, Loader=yaml.BaseLoader)
        )
    except (ValueError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise DataError(f"cannot parse the label map: {first}", file=path) from None
    if not isinstance(loaded, dict) or not loaded:
        raise DataError(
            "the label map must be a non-empty mapping", file=path, fix="write raw_label: label"
        )
    mapping = {label_key(k): _map_value(v, path) for k, v in loaded.items()}
    return Collapse(f"map:{path}", mapping)


def _map_value(value: Any, path: Path) -> Hashable | None:
    if isinstance(value, str) and value.strip() in _YAML_NULLS:
        return None  # text from the YAML BaseLoader: null means undecidable
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise DataError(
        f"mapped value {value!r} is not a label", file=path, fix="map each label to a scalar"
    )


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
    keys = frame[list(raters)].astype(object).map(_key_or_nan)
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


def binary_vs_reference(pred: pd.Series[Any], ref: pd.Series[Any]) -> dict[str, Any]:
    """Agreement with a reference rater; positive = success (1/True/"success").

    The error rates need binary labels: they are NaN when any label is neither positive nor
    negative, and computed over the pairs where both are decidable when the as_category policy
    added an UNDECIDABLE category.
    """
    left, right = _pairs(pred, ref)
    row: dict[str, Any] = {
        "n": len(left),
        "agreement": math.nan if left.empty else float((left == right).mean()),
        "cohen_kappa": cohen_kappa(left, right),
    }
    return row | _binary_rates(left, right)


def _binary_rates(pred: pd.Series[Any], ref: pd.Series[Any]) -> dict[str, float]:
    decided = (pred.map(label_key) != UNDECIDABLE) & (ref.map(label_key) != UNDECIDABLE)
    p = pred[decided].map(lambda v: label_key(v).lower())
    r = ref[decided].map(lambda v: label_key(v).lower())
    if not set(p) | set(r) <= _POSITIVE | _NEGATIVE:
        return dict.fromkeys(("fpr", "fnr", "precision", "recall"), math.nan)
    p_pos, r_pos = p.isin(_POSITIVE), r.isin(_POSITIVE)
    tp, fp = int((p_pos & r_pos).sum()), int((p_pos & ~r_pos).sum())
    fn, tn = int((~p_pos & r_pos).sum()), int((~p_pos & ~r_pos).sum())
    return {
        "fpr": _ratio(fp, fp + tn),
        "fnr": _ratio(fn, fn + tp),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
    }


def _pairs(a: pd.Series[Any], b: pd.Series[Any]) -> tuple[pd.Series[Any], pd.Series[Any]]:
    both = a.notna() & b.notna()
    return a[both], b[both]


def _chance_corrected(observed: float, expected: float) -> float:
    # expected agreement 1 means every rating fell in one category: kappa is undefined
    return math.nan if expected >= 1 else (observed - expected) / (1 - expected)


def _ratio(num: int, den: int) -> float:
    return num / den if den else math.nan


# ---------------------------------------------------------------------------------------------
# the report


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
    policy: dict[str, Any]


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


def agreement_report(
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
) -> dict[str, Any]:
    """The JSON-ready agreement summary (NaN as None); with `group_by`,
    `{"group_by", "overall", "groups": {value: summary}}`.

    Undecidable values are UNPARSEABLE, empty strings, labels a collapse maps to null and, when
    `labels` (the valid raw labels) is given, any other value. `policy` decides what they are:
    `as_missing` (missing for that rater only), `exclude` (drop the unit for every column,
    reference included) or `as_category` (an UNDECIDABLE category, nominal level only). The
    reference is compared with each rater and does not enter alpha or kappa; its fpr, fnr,
    precision and recall are null unless the labels are binary (1/0, true/false,
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
    overall = _report(frame, options)
    if group_by is None:
        return overall
    groups = {
        label_key(key): _report(group, options)
        for key, group in frame.groupby(group_by, sort=True, dropna=False)
    }
    return {"group_by": group_by, "overall": overall, "groups": groups}


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


def _report(frame: pd.DataFrame, options: _Options) -> dict[str, Any]:
    raters, reference = options.raters, options.reference
    columns = [*raters, *([reference] if reference and reference not in raters else [])]
    prepared = _prepare(frame, columns, options.collapse, options.labels, options.policy)
    # categorical statistics compare labels as text so 1 and 1.0 are one category
    keys = prepared.labels.map(_key_or_nan)
    report: dict[str, Any] = {
        "n": len(keys),
        "n_complete": int(keys[raters].notna().all(axis=1).sum()),
        "raters": raters,
        "reference": reference,
        "collapse": options.collapse.name,
        "level": options.level,
        "order": options.order,
        "policy": prepared.policy,
        "labels": sorted(set(keys[raters].stack().dropna()), key=str),
        **_alpha_entries(prepared.labels if options.numeric else keys, options),
        "fleiss_kappa": fleiss_kappa(keys, raters),
        "gwet_ac1": gwet_ac1(keys, raters),
        "percent_agreement": observed_agreement(keys, raters),
        "pairs": _pair_rows(keys, raters),
        "confusion": _confusions(keys, raters),
    }
    if reference is not None:
        report["vs_reference"] = [
            {"rater": r} | binary_vs_reference(keys[r], keys[reference])
            for r in raters
            if r != reference
        ]
    return dict(jsonable(report))


def _alpha_entries(data: pd.DataFrame, options: _Options) -> dict[str, Any]:
    raters, level, order = options.raters, options.level, options.order
    n_boot, seed, confidence = options.n_boot, options.seed, options.confidence
    return {
        "krippendorff_alpha": krippendorff_alpha(data, raters, level, order),
        "krippendorff_alpha_ci": list(
            bootstrap_alpha_ci(data, raters, level, order, n_boot, seed, confidence)
        ),
        "bootstrap": {"n": n_boot, "seed": seed, "confidence": confidence},
    }


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
    info = {
        "name": policy,
        "undecidable": {c: int(undecidable[c].sum()) for c in columns},
        "missing": {c: int(raw[c].isna().sum()) for c in columns},
        "units_affected": int(affected.sum()),
    }
    if policy == "as_category":
        return _Prepared(collapsed.mask(undecidable, UNDECIDABLE), info)
    collapsed = collapsed.where(~undecidable)  # as_missing
    return _Prepared(collapsed[~affected] if policy == "exclude" else collapsed, info)


def _undecidable(column: pd.Series[Any], valid: set[str] | None) -> pd.Series[bool]:
    def judged_not(value: Any) -> bool:
        if pd.isna(value):
            return False  # not rated: missing, not undecidable
        key = label_key(value)
        return key.upper() in _UNDECIDABLE_WORDS or (valid is not None and key not in valid)

    return column.map(judged_not).astype(bool)


def _key_or_nan(value: Any) -> Any:
    return value if pd.isna(value) else label_key(value)


def _pair_rows(keys: pd.DataFrame, raters: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "a": a,
            "b": b,
            "n": int((keys[a].notna() & keys[b].notna()).sum()),
            "percent_agreement": percent_agreement(keys[a], keys[b]),
            "cohen_kappa": cohen_kappa(keys[a], keys[b]),
            "gwet_ac1": gwet_ac1(keys, [a, b]),
        }
        for a, b in _combinations(raters)
    ]


def _confusions(keys: pd.DataFrame, raters: list[str]) -> list[dict[str, Any]]:
    labels = sorted(set(keys[raters].stack().dropna()), key=str)
    rows = []
    for a, b in _combinations(raters):
        table = confusion_matrix(keys[a], keys[b], labels)
        rows.append({"a": a, "b": b, "labels": labels, "matrix": table.to_numpy().tolist()})
    return rows


def _combinations(raters: list[str]) -> list[tuple[str, str]]:
    return [(a, b) for i, a in enumerate(raters) for b in raters[i + 1 :]]


def jsonable(value: Any) -> Any:
    """Plain JSON types: NaN and infinities become None, numpy scalars Python ones."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ---------------------------------------------------------------------------------------------
# markdown (for the CLI and for run reports)


def agreement_markdown(report: dict[str, Any]) -> str:
    """A readable summary of an `agreement_report` result, with small Markdown tables."""
    if "groups" not in report:
        return _summary(report)
    parts = [f"# Overall\n\n{_summary(report['overall'])}", f"# By {report['group_by']}"]
    parts.append(_group_table(report["groups"]))
    parts += [f"## {name}\n\n{_summary(group)}" for name, group in report["groups"].items()]
    return "\n\n".join(parts)


def _summary(report: dict[str, Any]) -> str:
    sections = [_header(report), _statistics(report), "Pairs:\n\n" + _table(report["pairs"])]
    sections += [_confusion(c) for c in report["confusion"]]
    if "vs_reference" in report:
        sections.append(f"Versus {report['reference']}:\n\n" + _table(report["vs_reference"]))
    return "\n\n".join(sections)


def _header(report: dict[str, Any]) -> str:
    policy = report["policy"]
    undecidable = ", ".join(f"{k}={v}" for k, v in policy["undecidable"].items())
    return (
        f"raters: {', '.join(report['raters'])}; collapse: {report['collapse']}; "
        f"level: {report['level']}; units: {report['n']} ({report['n_complete']} rated by all)\n"
        f"undecidable labels ({policy['name']}): {undecidable}; "
        f"units affected: {policy['units_affected']}"
    )


def _statistics(report: dict[str, Any]) -> str:
    low, high = report["krippendorff_alpha_ci"]
    boot = report["bootstrap"]
    rows = [
        {
            "statistic": "Krippendorff's alpha",
            "value": report["krippendorff_alpha"],
            "interval": f"[{_number(low)}, {_number(high)}] ({boot['confidence']:.0%}, "
            f"{boot['n']} resamples, seed {boot['seed']})",
        },
        {"statistic": "Fleiss' kappa", "value": report["fleiss_kappa"], "interval": ""},
        {"statistic": "Gwet's AC1", "value": report["gwet_ac1"], "interval": ""},
        {
            "statistic": "percent agreement",
            "value": report["percent_agreement"],
            "interval": "",
        },
    ]
    return _table(rows)


def _confusion(entry: dict[str, Any]) -> str:
    frame = pd.DataFrame(entry["matrix"], index=entry["labels"], columns=entry["labels"])
    frame.index.name = f"{entry['a']} \\ {entry['b']}"
    # labels stay text: "1" is a category here, not a number to right-align
    table = frame.to_markdown(disable_numparse=True)
    return f"Confusion {entry['a']} (rows) x {entry['b']} (columns):\n\n{table}"


def _group_table(groups: dict[str, dict[str, Any]]) -> str:
    rows = [
        {
            "group": name,
            "n": g["n"],
            "alpha": g["krippendorff_alpha"],
            "alpha CI": "[{}, {}]".format(*map(_number, g["krippendorff_alpha_ci"])),
            "fleiss_kappa": g["fleiss_kappa"],
            "gwet_ac1": g["gwet_ac1"],
            "percent_agreement": g["percent_agreement"],
        }
        for name, g in groups.items()
    ]
    return _table(rows)


def _table(rows: list[dict[str, Any]]) -> str:
    # object dtype keeps None (an undefined statistic) as None, which tabulate shows as n/a
    frame = pd.DataFrame(rows, dtype=object)
    return frame.to_markdown(index=False, floatfmt=".3f", missingval="n/a")


def _number(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"
