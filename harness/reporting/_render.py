"""Rendering a run report as Markdown, CSV, LaTeX, JSON or a self-contained HTML file.

Tables for people (Markdown, HTML, LaTeX) show the same columns with the same words: every
rate in percent with its interval, every count that is outside a denominator (errors, blocked,
no tool support, unparseable, ungraded), and the attack only when the run has more than one
(the no-op attack is "no attack", never a bare "none" beside a difference).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from harness.attacks import NO_ATTACK
from harness.reporting._analysis import RunReport
from harness.reporting._comparisons import asr_matrix
from harness.reporting._html import is_numeric_column
from harness.reporting._outcomes import KEYS

__all__ = [
    "CELL_COLUMNS",
    "attack_name",
    "comparison_view",
    "count_view",
    "headline_view",
    "markdown",
    "rate_view",
    "render_html",
    "report_json",
    "shown_cells",
]

RATES = ["strict_asr", "broad_asr", "refusal_rate", "over_refusal", "action_asr"]
COUNTS = [
    "n",
    "valid",
    "errors",
    "blocked_input",
    "blocked_output",
    "no_tool_support",
    "unparseable",
    "ungraded",
    "refusal",
    "partial",
    "compliance",
    "detected_proceeds",
]
CELL_COLUMNS = [
    *KEYS,
    *COUNTS,
    "dp_share",
    *RATES,
    "alpha",
    "ac1",
    "percent_agreement",
    "flag",
    "prompt_tokens",
    "completion_tokens",
    "requests",
    "cost_target",
    "cost_guard",
    "cost_judge",
    "cost",
]
_NA = "–"


def legend(report: RunReport) -> str:
    """What the per-configuration numbers mean, and every flag (the agreement threshold is the
    run's own)."""
    return (
        "Rates in percent of valid attempts, with 95% intervals (Wilson; Korn–Graubard, a "
        "design-effect-adjusted Clopper–Pearson interval, when an item has several samples). "
        "ASR and refusal on harmful items, over-refusal on benign items, action ASR on "
        "tool-access items that declare a harmful act. Errors, NO_TOOL_SUPPORT, unparseable "
        "and ungraded attempts are outside every denominator and counted in their own columns; "
        "blocked attempts are refusals of the deployment. Agreement of the graders on "
        "success: Krippendorff's alpha, Gwet's AC1 and percent agreement. Flags: unreadable "
        "(the grader could not read most answers: no rate shown), unvalidated (no second "
        f"rater or human labels), low_agreement (AC1 < {report.min_agreement:g}), small_n "
        "(valid < 30); any other flag is explained among the warnings."
    )


# ---------------------------------------------------------------------------------------------
# what every format shows


def attack_name(attack: Any) -> str:
    return "no attack" if str(attack) == NO_ATTACK else str(attack)


def _several_attacks(cells: pd.DataFrame) -> bool:
    return "attack" in cells and cells["attack"].nunique() > 1


def _keys(cells: pd.DataFrame) -> pd.DataFrame:
    """configuration (and attack, when the run has several) of each cell, for display."""
    shown = cells[["configuration"]].copy()
    if _several_attacks(cells):
        shown["attack"] = [attack_name(a) for a in cells["attack"]]
    return shown


def shown_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """The whole per-cell table for people: each rate as 'x% [lo%, hi%]', NaN as a dash."""
    shown = cells[[c for c in CELL_COLUMNS if c in cells]].copy()
    if "attack" in shown:
        shown["attack"] = [attack_name(a) for a in shown["attack"]]
    for name in RATES:
        shown[name] = _rates(cells, name)
    shown["dp_share"] = (
        _rates(cells, "dp_share")
        if "dp_share_lo" in cells
        else [percent(v) for v in cells["dp_share"]]
    )
    for column in ("cost_target", "cost_guard", "cost_judge", "cost"):
        if column in cells:
            shown[column] = [_NA if math.isnan(v) else f"${v:.4f}" for v in cells[column]]
    for column in ("alpha", "ac1"):
        if column in cells:
            shown[column] = [coefficient(v) for v in cells[column]]
    if "percent_agreement" in cells:
        shown["percent_agreement"] = [
            _NA if math.isnan(v) else f"{v:.1f}%" for v in cells["percent_agreement"]
        ]
    shown["flag"] = [flags(v) for v in cells["flag"]]
    return shown


def headline_view(cells: pd.DataFrame, sep: str = " ") -> pd.DataFrame:
    """What a reader needs first: size, the main rates, the flags."""
    shown = _keys(cells)
    shown["n"] = cells["n"]
    shown["valid"] = cells["valid"]
    shown["outside denominators"] = (
        cells["errors"] + cells["no_tool_support"] + cells["unparseable"] + cells["ungraded"]
    )
    names = ["strict_asr", "refusal_rate", "over_refusal"]
    if cells["action_asr"].notna().any():
        names.append("action_asr")
    for name in names:
        shown[RATE_TITLES[name]] = _rates(cells, name, sep)
    shown["flag"] = [flags(v) for v in cells["flag"]]
    return shown


def count_view(cells: pd.DataFrame) -> pd.DataFrame:
    """Every count: attempts, what is outside the denominators, labels on harmful items."""
    shown = _keys(cells)
    for name in COUNTS:
        shown[name] = cells[name]
    return shown


def rate_view(cells: pd.DataFrame, sep: str = " ") -> pd.DataFrame:
    """Every rate, the DETECTED_PROCEEDS share, the graders' alpha, tokens and cost."""
    shown = _keys(cells)
    for name in RATES:
        shown[RATE_TITLES[name]] = _rates(cells, name, sep)
    shown["DP share"] = (
        _rates(cells, "dp_share", sep)
        if "dp_share_lo" in cells
        else [percent(v) for v in cells["dp_share"]]
    )
    shown["alpha"] = [coefficient(v) for v in cells["alpha"]]
    if "ac1" in cells:
        shown["AC1"] = [coefficient(v) for v in cells["ac1"]]
    shown["tokens in / out"] = [
        f"{a} / {b}"
        for a, b in zip(cells["prompt_tokens"], cells["completion_tokens"], strict=True)
    ]
    if cells["cost"].notna().any():
        shown["cost"] = [_NA if math.isnan(v) else f"${v:.4f}" for v in cells["cost"]]
    return shown


RATE_TITLES = {
    "strict_asr": "strict ASR",
    "broad_asr": "broad ASR",
    "refusal_rate": "refusal",
    "over_refusal": "over-refusal",
    "action_asr": "action ASR",
}


def comparison_view(table: pd.DataFrame, sep: str = " ") -> pd.DataFrame:
    """The paired comparisons as people read them: differences in percentage points."""
    shown = pd.DataFrame(index=table.index)
    if table["attack"].nunique() > 1:
        shown["attack"] = [attack_name(a) for a in table["attack"]]
    shown["a"] = table["a"]
    shown["b"] = table["b"]
    if "label" in table and (table["label"] != "").any():
        shown["label"] = table["label"]
    shown["n"] = table["n"]
    shown["a − b"] = [
        _points(d, lo, hi, sep)
        for d, lo, hi in zip(table["difference"], table["lo"], table["hi"], strict=True)
    ]
    shown["only a / only b"] = [
        f"{a} / {b}" for a, b in zip(table["only_a"], table["only_b"], strict=True)
    ]
    if table["test"].replace("", pd.NA).dropna().nunique() > 1:
        shown["test"] = table["test"]
    shown["p"] = [p_value(v) for v in table["p_value"]]
    shown["p (Holm)"] = [p_value(v) for v in table["p_holm"]]
    shown["like for like"] = [
        "yes" if ok else "no: " + d.replace(",", ", ")
        for ok, d in zip(table["like_for_like"], table["differs"], strict=True)
    ]
    if "flag" in table and (table["flag"] != "").any():
        shown["flag"] = [flags(v) for v in table["flag"]]  # the grader flags of its two cells
    return shown


def comparison_heading(table: pd.DataFrame) -> str:
    tests = set(table["test"]) - {""}
    test = "McNemar exact" if tests <= {"mcnemar_exact"} else "McNemar exact / item sign test"
    return f"Paired comparisons on strict ASR ({test}, Holm over the {len(table)} shown)"


COMPARISON_LEGEND = (
    "Like-for-like pairs only: one model under two deployments, or two models under one "
    "deployment, on the harmful items both answered validly; pairs across both models and "
    "deployments appear only when the config declares them under `comparisons:`. a − b in "
    "percentage points with a 95% paired interval."
)


def gap_view(gaps: pd.DataFrame) -> pd.DataFrame:
    shown = gaps.copy()
    if "attack" in shown:
        if shown["attack"].nunique() > 1:
            shown["attack"] = [attack_name(a) for a in shown["attack"]]
        else:
            shown = shown.drop(columns="attack")
    for column in shown.columns:
        if shown[column].dtype.kind == "f":
            shown[column] = [percent(v) for v in shown[column]]
    return shown


def correction_view(table: pd.DataFrame) -> pd.DataFrame:
    shown = table.copy()
    if "attack" in shown:
        shown["attack"] = [attack_name(a) for a in shown["attack"]]
    for column in shown.columns:
        if shown[column].dtype.kind == "f":
            shown[column] = [percent(v) for v in shown[column]]
    return shown


def agreement_view(table: pd.DataFrame) -> pd.DataFrame:
    """Pairs of graders; any statistic column present is shown (percent, alpha, kappa, AC1...)."""
    shown = pd.DataFrame(index=table.index)
    for column in table.columns:
        values = table[column]
        if column.startswith("percent"):
            shown[column.replace("_", " ")] = [percent(v) for v in values]
        elif values.dtype.kind == "f":
            shown[_stat_title(column)] = [coefficient(v) for v in values]
        else:
            shown[column.replace("_", " ")] = values
    return shown


def _stat_title(column: str) -> str:
    return {
        "krippendorff_alpha": "Krippendorff's α",
        "cohen_kappa": "Cohen's κ",
        "gwet_ac1": "Gwet's AC1",
    }.get(column, column.replace("_", " "))


def grader_view(table: pd.DataFrame) -> pd.DataFrame:
    shown = table.copy()
    shown["success_share"] = [percent(v) for v in table["success_share"]]
    return shown.rename(
        columns={
            "answered": "answered attempts",
            "unlabelled": "not labelled",
            "success_share": "success labels (share of decided)",
        }
    )


# ---------------------------------------------------------------------------------------------
# numbers as text


def _rates(cells: pd.DataFrame, name: str, sep: str = " ") -> list[str]:
    return [
        _pct(r, lo, hi, sep)
        for r, lo, hi in zip(cells[name], cells[f"{name}_lo"], cells[f"{name}_hi"], strict=True)
    ]


def _pct(rate: float, low: float, high: float, sep: str = " ") -> str:
    if rate is None or math.isnan(rate):
        return _NA
    return f"{rate:.1%}{sep}[{low:.1%}, {high:.1%}]"


def _points(diff: float, low: float, high: float, sep: str = " ") -> str:
    if diff is None or math.isnan(diff):
        return _NA
    return f"{100 * diff:+.1f} pp{sep}[{100 * low:+.1f}, {100 * high:+.1f}]"


def percent(value: Any) -> str:
    return _NA if value is None or pd.isna(value) else f"{float(value):.1%}"


def coefficient(value: Any) -> str:
    if value is None or pd.isna(value):
        return "n/a"
    return f"{float(value):.2f}".replace("-0.00", "0.00")


def p_value(value: float) -> str:
    return _NA if math.isnan(value) else (f"{value:.2g}" if value < 0.001 else f"{value:.3f}")


def flags(value: Any) -> str:
    """The flag column as written by the analysis (comma-separated), for reading."""
    return ", ".join(f for f in str(value or "").split(",") if f)


# ---------------------------------------------------------------------------------------------
# markdown


def markdown(report: RunReport) -> str:
    cells = report.cells
    parts = [
        f"# {report.run_name}: grader `{report.grader}`",
        _validity_line(report),
        legend(report),
        _bullets("Warnings", report.warnings),
    ]
    for attack, _ in report.matrices.items():
        parts.append(
            f"## {matrix_heading(attack, several=len(report.matrices) > 1)}\n\n"
            + _md(asr_matrix(cells, attack), index=True)
        )
    parts.append(
        f"## {cell_heading(cells)}\n\n" + _md(shown_cells(cells).drop(columns=_drop(cells)))
    )
    if not report.adaptive.empty:
        parts.append(
            "## Adaptive attacks: success by the attack's own judge (10/10), target queries "
            "to success, cost per success\n\n" + _md(_shown_adaptive(report.adaptive))
        )
    if not report.gaps.empty:
        parts.append("## Text-only vs tool access\n\n" + _md(gap_view(report.gaps)))
    if not report.comparisons.empty:
        parts.append(
            f"## {comparison_heading(report.comparisons)}\n\n{COMPARISON_LEGEND}\n\n"
            + _md(comparison_view(report.comparisons))
        )
    if not report.agreement.empty:
        parts.append(
            f"## {AGREEMENT_HEADING}\n\n{AGREEMENT_LEGEND}\n\n"
            + _md(grader_view(report.grader_counts))
            + "\n\n"
            + _md(agreement_view(report.agreement))
        )
    if not report.corrections.empty:
        parts.append(
            f"## Judge-error correction against `{report.reference}` (Rogan–Gladen)\n\n"
            + _md(correction_view(report.corrections))
        )
    if not report.card_corrections.empty:
        parts.append(f"## {_card_title(report)}\n\n" + _md(_card_rows(report)))
    return "\n\n".join(p for p in parts if p) + "\n"


AGREEMENT_HEADING = "Grader agreement on strict success"
AGREEMENT_LEGEND = (
    "Labels collapsed to strict success (COMPLIANCE or DETECTED_PROCEEDS) or not; UNPARSEABLE "
    "and missing labels are left out, so n counts the attempts both graders decided."
)


def matrix_heading(attack: str, *, several: bool) -> str:
    which = f", attack {attack_name(attack)}" if several else ""
    return f"Like-for-like matrix: strict ASR, models × deployments{which}"


def cell_heading(cells: pd.DataFrame) -> str:
    return "Per configuration × attack" if _several_attacks(cells) else "Per configuration"


def _drop(cells: pd.DataFrame) -> list[str]:
    # model and deployment are in the configuration's name; one attack needs no column
    return ["model", "deployment", *([] if _several_attacks(cells) else ["attack"])]


def _validity_line(report: RunReport) -> str:
    return f"Validity of `{report.grader}`: {report.validity}" if report.validity else ""


def _card_rows(report: RunReport) -> pd.DataFrame:
    table = report.card_corrections
    shown = [*KEYS, "raw_rate", "rate", "lo", "hi", "sensitivity", "specificity", "n_all"]
    if "note" in table and table["note"].fillna("").astype(bool).any():
        shown.append("note")  # why a rate is "–": the card does not fit that configuration
    return correction_view(table[[c for c in shown if c in table]])


def _card_title(report: RunReport) -> str:
    return (
        f"Judge-error correction from the validity card of `{report.grader}` (Rogan–Gladen; "
        "its sensitivity and specificity were measured on the card's data set, not on this run: "
        "an estimate, not a measurement)"
    )


def _shown_adaptive(table: pd.DataFrame) -> pd.DataFrame:
    shown = table[
        ["configuration", "attack", "method", "n", "valid", "errors", "judge_successes"]
    ].copy()
    shown["judge_asr"] = [percent(v) for v in table["judge_asr"]]
    shown["queries_to_success"] = [
        "–" if math.isnan(median) else f"{median:g} ({low:g}–{high:g})"
        for median, low, high in zip(
            table["queries_to_success_median"],
            table["queries_to_success_min"],
            table["queries_to_success_max"],
            strict=True,
        )
    ]
    for column in ("target_queries", "attacker_queries", "judge_queries"):
        shown[column] = table[column]
    shown["unparseable_streams"], shown["capped"] = table["unparseable_streams"], table["capped"]
    shown["cost_per_success"] = [
        "–" if math.isnan(v) else f"${v:.4f}" for v in table["cost_per_success"]
    ]
    return shown


def _bullets(title: str, lines: Sequence[str]) -> str:
    return f"## {title}\n\n" + "\n".join(f"- {line}" for line in lines) if lines else ""


def _md(table: pd.DataFrame, index: bool = False) -> str:
    # values are printed as formatted ("1.00" stays "1.00"); numbers right, names left
    shown = table.reset_index() if index else table
    align = ["right" if is_numeric_column(shown[c]) else "left" for c in shown.columns]
    return str(shown.to_markdown(index=False, disable_numparse=True, colalign=align))


# ---------------------------------------------------------------------------------------------
# json


def _json_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(table.to_json(orient="records")) if not table.empty else []


def report_json(report: RunReport) -> dict[str, Any]:
    return {
        "run": report.run_name,
        "grader": report.grader,
        "reference": report.reference,
        "cells": _json_records(report.cells),
        "warnings": report.warnings,
        "matrices": {a: json.loads(m.to_json(orient="index")) for a, m in report.matrices.items()},
        "tool_gap": _json_records(report.gaps),
        "adaptive": _json_records(report.adaptive),
        "comparisons": _json_records(report.comparisons),
        "corrections": _json_records(report.corrections),
        "kappa": json.loads(report.kappa.to_json(orient="index")),
        "agreement": _json_records(report.agreement),
        "grader_labels": _json_records(report.grader_counts),
        "validity": {
            "grader": report.grader,
            "summary": report.validity,
            "card": report.card.model_dump(mode="json") if report.card else None,
        },
        "card_corrections": _json_records(report.card_corrections),
    }


# ---------------------------------------------------------------------------------------------
# html


def _captions(report: RunReport) -> dict[str, str]:
    grader = report.grader
    return {
        "forest_strict_asr": f"Strict ASR per configuration with its 95% interval, under "
        f"grader {grader}; the number of valid harmful attempts at the right.",
        "forest_over_refusal": f"Over-refusal of benign items (refusals and blocks among valid "
        f"benign attempts) with its 95% interval, under grader {grader}.",
        "outcomes": f"What became of every attempt on a harmful item (grader {grader}'s label, "
        "or the status that pre-empted grading: blocked, error, no tool support).",
        "over_refusal": f"What became of every attempt on a benign item (grader {grader}); "
        "refusals and blocks here are over-refusal.",
        "kappa": "Cohen's kappa of each pair of graders on strict success, with the number of "
        "attempts both decided; n/a cells say why.",
    }


def render_html(report: RunReport, out_dir: Path, commands: Sequence[str]) -> Path:
    """report.html (self-contained) plus the figures as PNG and SVG, in `out_dir`."""
    from harness.reporting._figures import report_figures
    from harness.reporting._html import Section, render_report, write_report

    out_dir.mkdir(parents=True, exist_ok=True)
    figures = report_figures(report, out_dir)
    cells = report.cells
    several = len(report.matrices) > 1
    sections = [
        Section(
            matrix_heading(attack, several=several),
            asr_matrix(cells, attack, sep="\n").reset_index(),
            "Strict ASR (COMPLIANCE + DETECTED_PROCEEDS) on harmful items with its 95% interval; "
            "each row one model, each column one deployment: read along a row for what the "
            "deployment explains, down a column for the models like for like.",
            anchor=f"matrix-{attack}",
        )
        for attack in report.matrices
    ]
    sections.append(
        Section(
            cell_heading(cells),
            headline_view(cells, sep="\n"),
            (f"{_validity_line(report)}\n\n" if report.validity else "") + legend(report),
            details=(
                ("Every count (label counts on harmful items)", count_view(cells)),
                ("Every rate, alpha, tokens and cost", rate_view(cells, sep="\n")),
            ),
            anchor="cells",
        )
    )
    if not report.comparisons.empty:
        sections.append(
            Section(
                comparison_heading(report.comparisons),
                comparison_view(report.comparisons, sep="\n"),
                COMPARISON_LEGEND,
                anchor="comparisons",
            )
        )
    if not report.adaptive.empty:
        sections.append(
            Section(
                "Adaptive attacks: success by the attack's own judge, target queries to "
                "success, cost per success",
                _shown_adaptive(report.adaptive),
                anchor="adaptive",
            )
        )
    if not report.gaps.empty:
        sections.append(Section("Text-only vs tool access", gap_view(report.gaps), anchor="gap"))
    if not report.agreement.empty:
        sections.append(
            Section(
                AGREEMENT_HEADING,
                agreement_view(report.agreement),
                AGREEMENT_LEGEND,
                anchor="agreement",
            )
        )
    if not report.grader_counts.empty:
        # not folded away: a judge whose every label is UNPARSEABLE must be seen
        sections.append(
            Section(
                "Labels per grader",
                grader_view(report.grader_counts),
                "Attempts with a reply to grade (blocked and failed attempts are not graded): "
                "how many each grader decided, left UNPARSEABLE or did not label.",
            )
        )
    if not report.corrections.empty:
        sections.append(
            Section(
                f"Judge-error correction against {report.reference} (Rogan–Gladen)",
                correction_view(report.corrections),
                anchor="correction",
            )
        )
    if not report.card_corrections.empty:
        sections.append(Section(_card_title(report), _card_rows(report)))
    html = render_report(
        title=f"{report.run_name}: grader {report.grader}",
        sections=sections,
        figures=[f for f in figures if f.suffix == ".svg"],
        manifest=report.manifest.stored(),
        commands=commands,
        warnings=report.warnings,
        captions=_captions(report),
    )
    target = out_dir / "report.html"
    write_report(target, html)
    return target
