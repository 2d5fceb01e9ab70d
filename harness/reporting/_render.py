"""Rendering a run report as Markdown, CSV, LaTeX, JSON or a self-contained HTML file."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from harness.reporting._analysis import RunReport
from harness.reporting._outcomes import KEYS

__all__ = ["CELL_COLUMNS", "render", "render_html", "shown_cells"]

RATES = ["strict_asr", "broad_asr", "refusal_rate", "over_refusal", "action_asr"]
CELL_COLUMNS = [
    *KEYS,
    "n",
    "valid",
    "errors",
    "blocked_input",
    "blocked_output",
    "unparseable",
    "refusal",
    "partial",
    "compliance",
    "detected_proceeds",
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


def render(report: RunReport, fmt: str) -> str:
    if fmt == "csv":
        return str(report.cells.to_csv(index=False))
    if fmt == "json":
        return json.dumps(_json(report), indent=2, allow_nan=False)
    if fmt == "latex":
        return _latex(report)
    return _markdown(report)


def shown_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """The per-cell table for people: each rate as 'x% [lo, hi]', NaN as a dash."""
    shown = cells[[c for c in CELL_COLUMNS if c in cells]].copy()
    for name in RATES:
        shown[name] = [
            _pct(r, lo, hi)
            for r, lo, hi in zip(cells[name], cells[f"{name}_lo"], cells[f"{name}_hi"], strict=True)
        ]
    shown["dp_share"] = [
        _pct(r, lo, hi)
        for r, lo, hi in zip(
            cells["dp_share"], cells["dp_share_lo"], cells["dp_share_hi"], strict=True
        )
    ]
    for column in ("cost_target", "cost_guard", "cost_judge", "cost"):
        if column in cells:
            shown[column] = ["–" if math.isnan(v) else f"${v:.4f}" for v in cells[column]]
    shown["alpha"] = ["–" if math.isnan(v) else f"{v:.2f}" for v in cells["alpha"]]
    shown["ac1"] = ["–" if math.isnan(v) else f"{v:.2f}" for v in cells["ac1"]]
    shown["percent_agreement"] = [
        "–" if math.isnan(v) else f"{v:.1f}%" for v in cells["percent_agreement"]
    ]
    return shown


def _markdown(report: RunReport) -> str:
    parts = [
        f"# {report.run_name}: grader `{report.grader}`",
        _validity_line(report),
        _legend(report),
        _bullets("Warnings", report.warnings),
        "## Per configuration × attack\n\n" + _md(shown_cells(report.cells)),
    ]
    for attack, matrix in report.matrices.items():
        parts.append(
            f"## Like-for-like matrix: strict ASR, attack `{attack}`\n\n" + _md(matrix, index=True)
        )
    if not report.adaptive.empty:
        parts.append(
            "## Adaptive attacks: success by the attack's own judge (10/10), target queries "
            "to success, cost per success\n\n" + _md(_shown_adaptive(report.adaptive))
        )
    if not report.gaps.empty:
        parts.append("## Text-only vs tool access\n\n" + _md(_pcts(report.gaps)))
    if not report.comparisons.empty:
        parts.append(
            "## Paired comparisons (McNemar exact, Holm across all)\n\n"
            + _md(_shown_comparisons(report.comparisons))
        )
    if not report.corrections.empty:
        parts.append(
            f"## Judge-error correction against `{report.reference}` (Rogan–Gladen)\n\n"
            + _md(_pcts(report.corrections))
        )
    if not report.card_corrections.empty:
        parts.append(f"## {_card_title(report)}\n\n" + _md(_card_rows(report)))
    return "\n\n".join(p for p in parts if p) + "\n"


def _validity_line(report: RunReport) -> str:
    return f"Validity of `{report.grader}`: {report.validity}" if report.validity else ""


def _card_rows(report: RunReport) -> pd.DataFrame:
    table = report.card_corrections
    shown = [*KEYS, "raw_rate", "rate", "lo", "hi", "sensitivity", "specificity", "n_all"]
    return _pcts(table[[c for c in shown if c in table]])


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
    shown["judge_asr"] = [_share(v) for v in table["judge_asr"]]
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


def _legend(report: RunReport) -> str:
    return (
        "Rates over valid attempts with 95% intervals (Wilson; Korn–Graubard, a design-effect-"
        "adjusted Clopper–Pearson interval, when an item has several samples). ASR and refusal "
        "on harmful items, over-refusal on benign items, action ASR on tool-access items that "
        "declare a harmful act. Errors, unparseable grades and NO_TOOL_SUPPORT are outside "
        "every denominator. Agreement of the graders on success: Krippendorff's alpha, "
        "Gwet's AC1 and percent agreement. Flags: unreadable (the grader could not read most "
        "answers: no rate shown), unvalidated (no second rater or human labels), "
        f"low_agreement (AC1 < {report.min_agreement:g}), small_n (valid < 30)."
    )


def _bullets(title: str, lines: Sequence[str]) -> str:
    return f"## {title}\n\n" + "\n".join(f"- {line}" for line in lines) if lines else ""


def _shown_comparisons(table: pd.DataFrame) -> pd.DataFrame:
    shown = table[["kind", "attack", "a", "b", "n"]].copy()
    shown["a − b"] = [
        _pct(d, lo, hi)
        for d, lo, hi in zip(table["difference"], table["lo"], table["hi"], strict=True)
    ]
    shown["only a / only b"] = [
        f"{a} / {b}" for a, b in zip(table["only_a"], table["only_b"], strict=True)
    ]
    shown["test"] = table["test"]
    shown["p"] = [_p(v) for v in table["p_value"]]
    shown["p (Holm)"] = [_p(v) for v in table["p_holm"]]
    shown["like for like"] = [
        "yes" if ok else f"no: {d}"
        for ok, d in zip(table["like_for_like"], table["differs"], strict=True)
    ]
    if "flag" in table:
        shown["flag"] = table["flag"]
    return shown


def _pcts(table: pd.DataFrame) -> pd.DataFrame:
    shown = table.copy()
    for column in shown.columns:
        if shown[column].dtype.kind == "f":
            shown[column] = [_share(v) for v in shown[column]]
    return shown


def _md(table: pd.DataFrame, index: bool = False) -> str:
    return str(table.to_markdown(index=index))


def _pct(rate: float, low: float, high: float) -> str:
    if rate is None or math.isnan(rate):
        return "–"
    return f"{rate:.1%} [{low:.1%}, {high:.1%}]"


def _share(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.3f}"


def _p(value: float) -> str:
    return "–" if math.isnan(value) else (f"{value:.2g}" if value < 0.001 else f"{value:.3f}")


def _latex(report: RunReport) -> str:
    shown = shown_cells(report.cells).rename(columns=lambda c: c.replace("_", " "))
    return str(
        shown.to_latex(
            index=False,
            escape=True,
            caption=f"{report.run_name}: grader {report.grader}",
            label="tab:harness",
        )
    )


def _json_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(table.to_json(orient="records")) if not table.empty else []


def _json(report: RunReport) -> dict[str, Any]:
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
        "validity": {
            "grader": report.grader,
            "summary": report.validity,
            "card": report.card.model_dump(mode="json") if report.card else None,
        },
        "card_corrections": _json_records(report.card_corrections),
    }


def render_html(report: RunReport, out_dir: Path, commands: Sequence[str]) -> Path:
    """report.html (self-contained) plus the figures as PNG and SVG, in `out_dir`."""
    from harness.reporting._figures import forest_plot, kappa_heatmap, outcome_bars
    from harness.reporting._html import Section, render_report, write_report

    out_dir.mkdir(parents=True, exist_ok=True)
    figures = [*forest_plot(report.cells, out_dir), *outcome_bars(report.outcomes, out_dir)]
    if len(report.kappa) > 1:
        figures += kappa_heatmap(report.kappa, out_dir)
    legend = f"{_validity_line(report)}. {_legend(report)}" if report.validity else _legend(report)
    sections = [Section("Per configuration × attack", shown_cells(report.cells), legend)]
    sections += [
        Section(f"Like-for-like matrix: strict ASR, attack {a}", m.reset_index())
        for a, m in report.matrices.items()
    ]
    if not report.gaps.empty:
        sections.append(Section("Text-only vs tool access", _pcts(report.gaps)))
    if not report.comparisons.empty:
        sections.append(
            Section(
                "Paired comparisons (McNemar exact, Holm across all)",
                _shown_comparisons(report.comparisons),
            )
        )
    if not report.corrections.empty:
        sections.append(
            Section(f"Judge-error correction against {report.reference}", _pcts(report.corrections))
        )
    if not report.card_corrections.empty:
        sections.append(Section(_card_title(report), _card_rows(report)))
    html = render_report(
        title=f"{report.run_name}: grader {report.grader}",
        sections=sections,
        figures=[f for f in figures if f.suffix == ".svg"],
        manifest=report.manifest,
        commands=commands,
        warnings=report.warnings,
    )
    target = out_dir / "report.html"
    write_report(target, html)
    return target
