"""Agreement summaries rendered: JSON-ready dicts, Markdown, and the lines `harness run` prints.

The statistics come typed from `harness.stats.agreement_summary`; here they become text.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.stats import (
    AgreementSummary,
    Collapse,
    GroupedAgreement,
    Level,
    UndecidablePolicy,
    agreement_summary,
)

__all__ = [
    "agreement_json",
    "agreement_markdown",
    "agreement_report",
    "jsonable",
    "run_agreement_lines",
]


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
    """`agreement_summary` as plain JSON types (NaN as None); with `group_by`,
    `{"group_by", "overall", "groups": {value: summary}}`."""
    summary = agreement_summary(
        frame,
        raters,
        reference=reference,
        collapse=collapse,
        level=level,
        order=order,
        labels=labels,
        policy=policy,
        n_boot=n_boot,
        seed=seed,
        confidence=confidence,
        group_by=group_by,
    )
    return agreement_json(summary)


def agreement_json(summary: AgreementSummary | GroupedAgreement) -> dict[str, Any]:
    """A summary as plain JSON types, NaN as None (a summary without a reference has no
    `vs_reference` key)."""
    if isinstance(summary, GroupedAgreement):
        return {
            "group_by": summary.group_by,
            "overall": agreement_json(summary.overall),
            "groups": {name: agreement_json(group) for name, group in summary.groups.items()},
        }
    fields = dataclasses.asdict(summary)
    if fields["vs_reference"] is None:
        del fields["vs_reference"]
    return dict(jsonable(fields))


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
# the few lines at the end of `harness run`


def run_agreement_lines(
    frame: pd.DataFrame, graders: list[str], run_dir: Path, *, n_boot: int = 500
) -> list[str]:
    """How far a run's graders agree on attack success, before anyone trusts a rate."""
    result = agreement_summary(frame, graders, collapse="binary_success", n_boot=n_boot, seed=0)
    low, high = result.krippendorff_alpha_ci
    lines = [
        f"\ngrader agreement on success (binary_success collapse, {result.n} attempts): "
        f"Krippendorff's alpha {_num(result.krippendorff_alpha)} [{_num(low)}, {_num(high)}]"
    ]
    for grader, count in result.policy.undecidable.items():
        if count:
            lines.append(f"  {grader}: {count} of {result.n} labels undecidable (UNPARSEABLE)")
    lines.append(
        f"  Gwet's AC1 {_num(result.gwet_ac1)}, {_num(result.percent_agreement, 1)}% agreement"
    )
    lines += [
        f"  {pair.a} vs {pair.b}: {_num(pair.percent_agreement, 1)}% agree, "
        f"Gwet's AC1 {_num(pair.gwet_ac1)}, Cohen's kappa {_num(pair.cohen_kappa)} (n={pair.n})"
        for pair in result.pairs
    ]
    lines.append(
        f"  details: harness agree {run_dir} --collapse binary_success --group-by configuration"
    )
    return lines


def _num(value: float, digits: int = 3) -> str:
    return "–" if math.isnan(value) else f"{value:.{digits}f}"


# ---------------------------------------------------------------------------------------------
# Markdown (for `harness agree`)


def agreement_markdown(report: dict[str, Any] | AgreementSummary | GroupedAgreement) -> str:
    """A readable summary of an agreement summary (or its `agreement_json` form), with small
    Markdown tables."""
    if not isinstance(report, dict):
        report = agreement_json(report)
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
