"""Figures for a run: rates with Wilson intervals, outcome shares, grader agreement.

Every figure is written as PNG (dpi 150) and SVG under fixed names, byte-identical when
re-rendered from the same data, so figures can be committed and diffed. Figures are built on
`matplotlib.figure.Figure` directly, never through pyplot: no global figure registry, no GUI
backend, nothing to close.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from matplotlib.transforms import blended_transform_factory

from harness._errors import DataError

if TYPE_CHECKING:  # matplotlib >= 3.10 names its rcParams keys; only the type checker needs it
    from matplotlib.typing import RcKeyType

__all__ = [
    "OUTCOMES",
    "OUTCOME_COLOURS",
    "forest_plot",
    "kappa_heatmap",
    "outcome_bars",
    "outcome_shares",
    "report_figures",
]

# Stacking order, left to right: the deployment held, then harm, then attempts that are no
# judgement at all, so the harmful share reads off the middle of every bar.
OUTCOMES: tuple[str, ...] = (
    "REFUSAL",
    "BLOCKED_INPUT",
    "BLOCKED_OUTPUT",
    "NON_ANSWER",
    "PARTIAL",
    "DETECTED_PROCEEDS",
    "COMPLIANCE",
    "NO_TOOL_SUPPORT",
    "UNPARSEABLE",
    "UNGRADED",
    "ERROR",
)
# Okabe & Ito (2008) colour-blind-safe palette plus two neutral greys; the two blocked outcomes
# share the "deployment blocked" blue and differ by hatching, as the palette has only 8 colours.
OUTCOME_COLOURS: dict[str, str] = {
    "REFUSAL": "#009E73",
    "BLOCKED_INPUT": "#0072B2",
    "BLOCKED_OUTPUT": "#0072B2",
    "NON_ANSWER": "#56B4E9",
    "PARTIAL": "#E69F00",
    "DETECTED_PROCEEDS": "#CC79A7",
    "COMPLIANCE": "#D55E00",
    "NO_TOOL_SUPPORT": "#F0E442",
    "UNPARSEABLE": "#999999",
    "UNGRADED": "#DDDDDD",
    "ERROR": "#000000",
}
_HATCHES = {"BLOCKED_OUTPUT": "///"}

_RATE_TITLES = {
    "refusal_rate": "Refusal rate on harmful items",
    "strict_asr": "Strict attack success rate (COMPLIANCE + DETECTED_PROCEEDS)",
    "broad_asr": "Broad attack success rate (+ PARTIAL)",
    "over_refusal": "Over-refusal on benign items",
}
_RATE_AXES = {
    "refusal_rate": "refusals and blocks among valid attempts on harmful items",
    "strict_asr": "attack success among valid attempts on harmful items",
    "broad_asr": "attack success (incl. PARTIAL) among valid attempts on harmful items",
    "over_refusal": "refusals and blocks among valid attempts on benign items",
    "action_asr": "harmful target action executed, among valid tool-access attempts",
}
# the denominator each rate is computed over, shown next to the interval
_RATE_DENOMINATORS = {"over_refusal": "n_benign"}

# svg.hashsalt fixes the ids matplotlib would otherwise draw at random; fonttype "none" keeps
# labels as <text> (searchable, small); parse_math off because a configuration name with "$"
# must be printed, not typeset (or crash the renderer on unbalanced math).
_STYLE: dict[RcKeyType, Any] = {
    "svg.hashsalt": "harness-figures",
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
}
_PNG_DPI = 150
_WIDTH = 8.0  # inches, before room for long labels
_ROW_HEIGHT = 0.32  # inches per configuration × attack row
_LABEL_INCH_PER_CHAR = 0.065  # DejaVu Sans at 9 pt, roughly


@contextmanager
def _style() -> Iterator[None]:
    # rcParams are process-global: the style is applied only while one figure is built and
    # saved, and restored afterwards, so callers' own matplotlib settings are left alone.
    with mpl.rc_context(_STYLE):
        yield


def _save(fig: Figure, out_dir: Path, stem: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    png, svg = out_dir / f"{stem}.png", out_dir / f"{stem}.svg"
    # no timestamp in either file: re-rendering the same data must give the same bytes
    fig.savefig(png, format="png", dpi=_PNG_DPI, metadata={"Software": None})
    fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    return [png, svg]


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{what} lacks column(s) {', '.join(missing)}",
            field=missing[0],
            fix=f"pass a table with columns {', '.join(columns)}",
        )


def _row_labels(frame: pd.DataFrame) -> list[str]:
    """The configuration, and the attack when the rows have more than one ("no attack" for
    the no-op one: a bare "none" beside a rate reads like "no difference")."""
    if frame["attack"].nunique() <= 1:
        return [str(c) for c in frame["configuration"]]
    return [
        f"{c} · {'no attack' if str(a) == 'none' else a}"
        for c, a in zip(frame["configuration"], frame["attack"], strict=True)
    ]


def _rows_figure(labels: Sequence[str], extra_height: float) -> tuple[Figure, Axes]:
    """A figure with one horizontal row per label, wide enough that no label is cut off."""
    longest = max((len(s) for s in labels), default=0)
    width = _WIDTH + _LABEL_INCH_PER_CHAR * longest
    height = extra_height + _ROW_HEIGHT * max(len(labels), 1)
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot()
    ax.set_yticks(range(len(labels)), labels)
    ax.set_ylim(max(len(labels), 1) - 0.5, -0.5)  # first table row on top
    return fig, ax


def _placeholder(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", color="0.4")


# ---------------------------------------------------------------------------------------------
# forest plot


def forest_plot(
    table: pd.DataFrame,
    out_dir: Path,
    *,
    rate: str = "strict_asr",
    title: str | None = None,
    reference: float | None = None,
    reference_label: str | None = None,
    grader: str | None = None,
) -> list[Path]:
    """One row per configuration (× attack, when there are several), in table order: `rate`
    with its 95% interval (Wilson, or the item bootstrap named in an `interval` column).

    `grader` names whose labels the rate counts, in the title. `reference` (a share in
    [0, 1]) draws a dashed vertical line, e.g. a baseline's rate.
    Writes `forest_<rate>.png` and `.svg` into `out_dir` and returns both paths.
    """
    _require(table, ["configuration", "attack", rate, f"{rate}_lo", f"{rate}_hi"], "table")
    labels = _row_labels(table)
    if "flag" in table:  # a rate nobody checked, or checked and found wanting, says so
        labels = [
            f"{label} ⚠ {_grader_flags(flag)}" if _grader_flags(flag) else label
            for label, flag in zip(labels, table["flag"].fillna(""), strict=True)
        ]
    with _style():
        fig, ax = _rows_figure(labels, extra_height=1.4)
        ax.set_title(title if title is not None else _forest_title(rate, table, grader), loc="left")
        _forest_axis(ax)
        ax.set_xlabel(_RATE_AXES.get(rate, rate) + " (%)")
        values = [_as_float(v) for v in table[rate]]
        lows = [_as_float(v) for v in table[f"{rate}_lo"]]
        highs = [_as_float(v) for v in table[f"{rate}_hi"]]
        _forest_points(ax, values, lows, highs)
        _forest_right_labels(ax, table, rate, values, lows, highs)
        if reference is not None:
            _reference_line(fig, ax, reference, reference_label)
        if not labels:
            _placeholder(ax, "no rows")
        return _save(fig, out_dir, f"forest_{rate}")


def _grader_flags(flag: str) -> str:
    from harness.reporting._cells import GRADER_FLAGS

    return ",".join(f for f in str(flag).split(",") if f in GRADER_FLAGS)


INTERVAL_NAMES = {
    "wilson": "Wilson",
    "cluster_bootstrap": "item bootstrap",
    "korn_graubard": "Korn-Graubard",
}


def interval_name(kinds: Any) -> str:
    """The interval methods named in a table's `interval` column, for a title or caption."""
    names = [INTERVAL_NAMES.get(str(k), str(k).replace("_", " ")) for k in dict.fromkeys(kinds)]
    return " or ".join(names) or "Wilson"


def _forest_title(rate: str, table: pd.DataFrame, grader: str | None) -> str:
    interval = interval_name(table["interval"]) if "interval" in table.columns else "Wilson"
    by = f"\ngrader {grader}, " if grader else "\n"
    return f"{_RATE_TITLES.get(rate, rate)}{by}95% {interval} interval"


def _as_float(value: Any) -> float:
    # pd.NA, None and numpy scalars all become a plain float (NaN when missing)
    return math.nan if pd.isna(value) else float(value)


def _forest_axis(ax: Axes) -> None:
    # room past 0% and 100% so a point or whisker on the edge is drawn whole
    ax.set_xlim(-0.04, 1.04)
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
    ax.grid(axis="x", color="0.9", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.tick_params(axis="y", length=0)


def _forest_points(
    ax: Axes, values: Sequence[float], lows: Sequence[float], highs: Sequence[float]
) -> None:
    for y, (value, low, high) in enumerate(zip(values, lows, highs, strict=True)):
        if math.isnan(value):
            ax.text(0.0, y, "no valid attempts", va="center", color="0.45", style="italic")
            continue
        if not (math.isnan(low) or math.isnan(high)):
            ax.hlines(y, low, high, color="0.25", linewidth=1.4, clip_on=False)
            ax.vlines([low, high], y - 0.15, y + 0.15, color="0.25", linewidth=1.4, clip_on=False)
        ax.plot([value], [y], "o", color="#0072B2", markersize=6, zorder=3, clip_on=False)


def _forest_right_labels(
    ax: Axes,
    table: pd.DataFrame,
    rate: str,
    values: Sequence[float],
    lows: Sequence[float],
    highs: Sequence[float],
) -> None:
    """The numbers beside each row, so the figure reads without the table."""
    denominator = _RATE_DENOMINATORS.get(rate, "n_harmful")
    counts = list(table[denominator]) if denominator in table.columns else [None] * len(values)
    texts = [
        _interval_text(v, lo, hi, n)
        for v, lo, hi, n in zip(values, lows, highs, counts, strict=True)
    ]
    right = ax.secondary_yaxis("right")
    right.set_yticks(range(len(texts)), texts)
    right.tick_params(length=0)
    right.spines["right"].set_visible(False)


def _interval_text(value: float, low: float, high: float, n: Any) -> str:
    size = "" if n is None or pd.isna(n) else f"  n={int(n)}"
    if math.isnan(value):
        return f"–{size}"
    return f"{value:.1%} [{low:.1%}, {high:.1%}]{size}"


def _reference_line(fig: Figure, ax: Axes, reference: float, label: str | None) -> None:
    ax.axvline(reference, color="#D55E00", linestyle="--", linewidth=1, label=label or "reference")
    # below the axes: a label drawn over the plot would collide with the title or a row
    fig.legend(loc="outside lower right", frameon=False)


# ---------------------------------------------------------------------------------------------
# outcome shares


def outcome_bars(
    counts: pd.DataFrame,
    out_dir: Path,
    *,
    title: str = "Outcomes of every attempt, every status included",
    stem: str = "outcomes",
    xlabel: str = "share of the attempts (%)",
) -> list[Path]:
    """Stacked bars of outcome shares per configuration (× attack), in table order.

    `counts` has columns configuration, attack and one count column per outcome in `OUTCOMES`
    (a missing column counts 0; other columns are ignored). Every outcome is in the
    denominator, errors and NO_TOOL_SUPPORT included. Writes `<stem>.png` and `.svg`.
    """
    _require(counts, ["configuration", "attack"], "outcome counts")
    labels = _row_labels(counts)
    totals = _outcome_counts(counts).sum(axis=1).to_numpy()
    shares = outcome_shares(counts)
    with _style():
        fig, ax = _rows_figure(labels, extra_height=1.9)
        ax.set_title(title, loc="left")
        _shares_axis(ax)
        ax.set_xlabel(xlabel)
        present = _stack(ax, shares)
        _totals_text(ax, totals)
        if present:
            fig.legend(loc="outside lower center", ncols=min(len(present), 5), frameon=False)
        if not labels:
            _placeholder(ax, "no rows")
        return _save(fig, out_dir, stem)


def outcome_shares(counts: pd.DataFrame) -> pd.DataFrame:
    """Each row's outcome counts as shares summing to 1; a row with no attempts is all 0."""
    frame = _outcome_counts(counts)
    totals = frame.sum(axis=1)
    # a row with no attempts stays 0 instead of 0/0 = NaN
    return frame.div(totals.where(totals > 0, 1.0), axis=0)


def _outcome_counts(counts: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame(
        {o: pd.to_numeric(counts[o]) if o in counts else 0 for o in OUTCOMES}, index=counts.index
    ).fillna(0)
    if (frame < 0).to_numpy().any():
        raise DataError(
            "outcome counts must not be negative", fix="pass counts of attempts per outcome"
        )
    return frame.astype(float)


def _shares_axis(ax: Axes) -> None:
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _stack(ax: Axes, shares: pd.DataFrame) -> list[str]:
    """Draw the segments; returns the outcomes that occur, the only ones the legend lists."""
    rows = np.arange(len(shares))
    left = np.zeros(len(shares))
    present = []
    for outcome in OUTCOMES:
        share = shares[outcome].to_numpy()
        if not share.any():
            continue
        present.append(outcome)
        ax.barh(
            rows,
            share,
            left=left,
            height=0.7,
            label=outcome,
            color=OUTCOME_COLOURS[outcome],
            hatch=_HATCHES.get(outcome),
            edgecolor="white",
            linewidth=0.5,
        )
        left += share
    return present


def _totals_text(ax: Axes, totals: np.ndarray[Any, Any]) -> None:
    # x in axes units (just past the right edge), y in data units (the row)
    where = blended_transform_factory(ax.transAxes, ax.transData)
    for y, total in enumerate(totals):
        ax.text(1.01, y, f"n={int(total)}", transform=where, va="center", color="0.3")
        if total == 0:
            ax.text(0.01, y, "no attempts", va="center", color="0.45", style="italic")


def over_refusal_bars(counts: pd.DataFrame, out_dir: Path, grader: str | None) -> list[Path]:
    """The outcomes of the benign items: what is refused or blocked there is over-refusal."""
    by = f" (grader {grader})" if grader else ""
    return outcome_bars(
        counts,
        out_dir,
        title=f"Over-refusal: outcomes on benign items{by}\n"
        "REFUSAL and BLOCKED of a benign request are over-refusal",
        stem="over_refusal",
        xlabel="share of the attempts on benign items (%)",
    )


# ---------------------------------------------------------------------------------------------
# grader agreement


def kappa_heatmap(
    kappa: pd.DataFrame,
    out_dir: Path,
    *,
    counts: pd.DataFrame | None = None,
    notes: pd.DataFrame | None = None,
    subtitle: str | None = None,
) -> list[Path]:
    """Pairwise Cohen's kappa among graders (index = columns = grader names), lower triangle.

    Each pair is drawn once, below the diagonal (the diagonal, a grader with itself, says
    nothing). `counts` (same shape) gives the attempts each pair decided, printed as n;
    `notes` (same shape) a short reason printed under an "n/a". Diverging colours centred on
    0 (no agreement beyond chance) from -1 to 1. Writes `kappa.png` and `.svg`.
    """
    names = [str(n) for n in kappa.index]
    if [str(c) for c in kappa.columns] != names:
        raise DataError(
            "the kappa matrix must have the same graders, in the same order, as rows and columns",
            fix="pass a square matrix indexed by grader name on both axes",
        )
    values = kappa.apply(pd.to_numeric).to_numpy(dtype=float)
    with _style():
        rows = names[1:]
        longest = max(map(len, names), default=0)
        side = 2.4 + 1.1 * max(len(rows), 1) + _LABEL_INCH_PER_CHAR * longest
        fig = Figure(figsize=(side + 1.4, side), layout="constrained")
        ax = fig.add_subplot()
        title = "Pairwise Cohen's κ between graders"
        ax.set_title(title + (f"\n{subtitle}" if subtitle else ""), loc="left")
        if len(names) > 1:
            _kappa_cells(fig, ax, names, values, _grid(counts, names), _grid(notes, names))
        else:
            _placeholder(ax, "fewer than two graders")
        return _save(fig, out_dir, "kappa")


def _grid(frame: pd.DataFrame | None, names: Sequence[str]) -> list[list[Any]] | None:
    if frame is None:
        return None
    order = list(names)
    square = frame.reindex(index=order, columns=order)
    grid: list[list[Any]] = square.to_numpy(dtype=object).tolist()
    return grid


def _kappa_cells(
    fig: Figure,
    ax: Axes,
    names: Sequence[str],
    values: np.ndarray[Any, np.dtype[Any]],
    counts: list[list[Any]] | None,
    notes: list[list[Any]] | None,
) -> None:
    size = len(names)
    # row i (grader i + 1) against column j (grader j) for j < i + 1: the lower triangle
    lower = np.full((size - 1, size - 1), np.nan)
    shown = np.zeros_like(lower, dtype=bool)
    for i in range(size - 1):
        for j in range(i + 1):
            lower[i, j] = values[i + 1, j]
            shown[i, j] = True
    cmap = mpl.colormaps["RdBu"].with_extremes(bad="#DDDDDD")
    masked = np.ma.masked_where(~shown, lower)
    # TwoSlopeNorm pins white to exactly 0, whatever the data's range
    image = ax.imshow(masked, cmap=cmap, norm=TwoSlopeNorm(vcenter=0.0, vmin=-1.0, vmax=1.0))
    # cells above the diagonal stay blank (white), not "bad" grey
    ax.imshow(np.ma.masked_where(shown, np.zeros_like(lower)), cmap="Greys", vmin=0, vmax=1)
    ax.set_xticks(range(size - 1), names[:-1], rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(size - 1), names[1:])
    ax.tick_params(length=0)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    for i in range(size - 1):
        for j in range(i + 1):
            value = lower[i, j]
            n = counts[i + 1][j] if counts is not None else None
            note = notes[i + 1][j] if notes is not None else None
            text, colour = _cell_text(value)
            lines = [text]
            if n is not None and not pd.isna(n):
                lines.append(f"n={int(n)}")
            if math.isnan(value) and note:
                lines.append(str(note))
            ax.text(j, i, "\n".join(lines), color=colour, ha="center", va="center")
    fig.colorbar(image, ax=ax, label="Cohen's κ (0: chance, 1: perfect)", shrink=0.8)


def _cell_text(value: float) -> tuple[str, str]:
    if math.isnan(value):
        return "n/a", "0.3"
    # "-0.00" would suggest a sign the rounded value does not have
    text = f"{value:.2f}".replace("-0.00", "0.00")
    # white on the dark ends of the scale, black in the pale middle
    return text, ("white" if abs(value) > 0.6 else "black")


# ---------------------------------------------------------------------------------------------
# every figure of a report


def report_figures(report: Any, out_dir: Path) -> list[Path]:
    """The figures of a run report (a `RunReport`): forest plots of strict ASR and of
    over-refusal, outcome bars of harmful and of benign items, and the kappa heatmap."""
    cells, grader = report.cells, report.grader
    paths = forest_plot(cells, out_dir, grader=grader)
    if cells["over_refusal"].notna().any():
        paths += forest_plot(cells, out_dir, rate="over_refusal", grader=grader)
    outcomes = report.outcomes
    harmful = outcomes[outcomes["harmful"].astype(bool)] if "harmful" in outcomes else outcomes
    paths += outcome_bars(
        harmful,
        out_dir,
        title=f"Outcomes on harmful items (grader {grader}), every status included",
        xlabel="share of the attempts on harmful items (%)",
    )
    if "harmful" in outcomes and (~outcomes["harmful"].astype(bool)).any():
        paths += over_refusal_bars(outcomes[~outcomes["harmful"].astype(bool)], out_dir, grader)
    if len(report.kappa) > 1:
        counts, notes = _pair_grids(report.agreement, list(report.kappa.index))
        paths += kappa_heatmap(
            report.kappa,
            out_dir,
            counts=counts,
            notes=notes,
            subtitle="strict success or not; n = attempts both decided",
        )
    return paths


def _pair_grids(
    agreement: pd.DataFrame, names: list[str]
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    if agreement.empty:
        return None, None
    counts = pd.DataFrame(np.nan, index=names, columns=names, dtype=object)
    notes = pd.DataFrame("", index=names, columns=names, dtype=object)
    for row in agreement.to_dict("records"):
        a, b = str(row["a"]), str(row["b"])
        if a in names and b in names:
            counts.loc[a, b] = counts.loc[b, a] = row["n"]
            note = _short_note(str(row.get("note") or ""))
            notes.loc[a, b] = notes.loc[b, a] = note
    return counts, notes


def _short_note(note: str) -> str:
    if not note:
        return ""
    if "no attempt" in note:
        return "none decided\nby both"
    if "every label is" in note:
        return "one label only"
    return note[:24]
