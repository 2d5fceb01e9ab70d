"""A run report as LaTeX tables to paste into a paper: booktabs rules, everything escaped.

The tables, in the order a reader needs them: the like-for-like matrix (models × deployments,
one per attack) as the headline, the paired comparisons, then the per-configuration tables
split in two (counts; rates) so that each fits a page, the grader agreement and any judge-error
correction. Every table has a stable label, `tab:<run>-<what>`, so a paper's \\ref survives a
re-run. Needs `\\usepackage{booktabs}` and `\\usepackage{longtable}` (both in Debian's
texlive-latex-base / texlive-latex-recommended); nothing else, and it compiles with pdflatex.

A rate is written as the percentage above its interval in one cell (a nested tabular), which
keeps the columns narrow enough for a portrait page.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from harness.reporting._analysis import RunReport
from harness.reporting._comparisons import _grader_flags
from harness.reporting._outcomes import records
from harness.reporting._render import (
    AGREEMENT_LEGEND,
    COUNTS,
    RATE_TITLES,
    RATES,
    attack_name,
    coefficient,
    flags,
    p_value,
    percent,
)

__all__ = ["PREAMBLE", "latex_escape", "latex_label", "render_latex"]

PREAMBLE = "\\usepackage{booktabs}\n\\usepackage{longtable}\n\\usepackage{pdflscape}"

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    # a caption may break a long name after an underscore rather than run into the margin
    "_": r"\_\allowbreak{}",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    # OT1 fonts print < > | as other glyphs: ask for the text symbols by name
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    '"': "''",
    "×": r"$\times$",
    "–": "--",
    "—": "---",
    "−": "$-$",
    "·": r"\textperiodcentered{}",
    "…": r"\ldots{}",
    "α": r"$\alpha$",
    "κ": r"$\kappa$",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "\n": " ",
}
# Latin-1 letters that pdflatex's default (OT1) fonts can compose from accents
_COMPOSABLE = re.compile(r"[À-ÏÑ-ÖØ-Ýß-ïñ-öø-ýÿ]")


def latex_escape(text: Any) -> str:
    """Any text as LaTeX that typesets it verbatim: special characters escaped, a character
    the default fonts cannot print replaced by '?' rather than breaking the build."""
    out = []
    for char in str(text):
        if char in _SPECIAL:
            out.append(_SPECIAL[char])
        elif (char.isascii() and char.isprintable()) or _COMPOSABLE.match(char):
            out.append(char)
        else:
            out.append("?")
    return "".join(out)


def latex_label(run: str, what: str) -> str:
    """`tab:<run>-<what>`, letters, digits and hyphens only: stable across re-runs."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{run}-{what}").strip("-").lower()
    return f"tab:{slug}"


def render_latex(report: RunReport) -> str:
    run = report.run_name
    cells = report.cells
    several = cells["attack"].nunique() > 1
    parts = [
        "\n".join(
            [
                f"% harness report of run {_comment(run)}, grader {_comment(report.grader)}",
                "% needs in the preamble:",
                *(f"% {line}" for line in PREAMBLE.splitlines()),
            ]
        )
    ]
    for attack in report.matrices:
        parts.append(_matrix(report, str(attack), several))
    if not report.comparisons.empty:
        parts.append(_comparisons(report))
    parts.append(_counts(report, several))
    parts.append(_rates(report, several))
    if not report.agreement.empty:
        parts.append(_agreement(report))
    if not report.corrections.empty:
        parts.append(_corrections(report))
    return "\n\n".join(parts) + "\n"


def _comment(text: str) -> str:
    return text.replace("\n", " ")


# ---------------------------------------------------------------------------------------------
# the tables


def _matrix(report: RunReport, attack: str, several: bool) -> str:
    cells = report.cells[report.cells["attack"] == attack]
    models = list(dict.fromkeys(cells["model"]))
    deployments = list(dict.fromkeys(cells["deployment"]))
    by = {(r["model"], r["deployment"]): r for r in records(cells)}
    rows = [[latex_escape(m), *(_matrix_cell(by.get((m, d))) for d in deployments)] for m in models]
    # "model \ deployment" in the corner; deployments may be long: a word per line
    which = f", attack {latex_escape(attack_name(attack))}" if several else ""
    caption = (
        f"{latex_escape(report.run_name)}: strict attack success rate (\\%) on harmful items, "
        f"models $\\times$ deployments{which}, with 95\\% intervals "
        f"({_interval(cells)}); grader {latex_escape(report.grader)}. "
        "Each row is one model, each column one deployment: a column compares the models "
        "like for like."
    )
    label = latex_label(report.run_name, f"matrix-{attack}" if several else "matrix")
    header = ["model", *map(latex_escape, deployments)]
    body = _tabular(["l", *["r"] * len(deployments)], header, rows)
    return _float(body, caption, label)


def _matrix_cell(row: dict[str, Any] | None) -> str:
    """The rate over its interval, and under them any grader flag (the rate is no better)."""
    cell = _rate_cell(row, "strict_asr")
    flag = _grader_flags(str(row["flag"])) if row is not None else ""
    if not flag:
        return cell
    lines = cell.removeprefix("\\begin{tabular}[t]{@{}r@{}}").removesuffix("\\end{tabular}")
    return _stack([*lines.split(" \\\\ "), f"\\emph{{({latex_escape(flag)})}}"])


def _comparisons(report: RunReport) -> str:
    table = report.comparisons
    several = table["attack"].nunique() > 1
    labelled = "label" in table and (table["label"] != "").any()
    header = [
        "a",
        "b",
        *(["label"] if labelled else []),
        "$n$",
        _stack(["$a-b$", "(pp)"], align="c"),
        "$p$",
        _stack(["$p$", "(Holm)"], align="c"),
        _words("like for like"),
    ]
    rows: list[list[str]] = []
    notes: dict[str, str] = {}
    attack = None
    for row in records(table):
        if several and row["attack"] != attack:
            # a heading row per attack instead of a column: the table stays portrait-wide
            attack = row["attack"]
            rows.append([f"\\emph{{attack: {latex_escape(attack_name(attack))}}}"])
        differs = str(row["differs"])
        if row["like_for_like"]:
            like = "yes"
        else:
            mark = notes.setdefault(differs, "\\textsuperscript{" + _mark(len(notes)) + "}")
            like = "no" + mark
        rows.append(
            [
                _name(row["a"]),
                _name(row["b"]),
                *([latex_escape(row.get("label") or "")] if labelled else []),
                str(row["n"]),
                _points_cell(row["difference"], row["lo"], row["hi"]),
                _p(row["p_value"]),
                _p(row["p_holm"]),
                like,
            ]
        )
    align = ["l", "l", *(["l"] if labelled else []), "r", "r"]
    align += ["r", "r", "l"]
    legend = "; ".join(
        f"{mark} differ in {latex_escape(d.replace(',', ', '))}" for d, mark in notes.items()
    )
    caption = (
        f"{latex_escape(report.run_name)}: paired comparisons of strict ASR on the harmful items "
        "both configurations answered validly: one model under two deployments, or two models "
        "under one deployment (other pairs only when declared). Difference in percentage points "
        "with a 95\\% paired interval; McNemar's exact test, Holm-corrected over the "
        f"{len(table)} rows shown." + (f" Not like for like: {legend}." if legend else "")
    )
    label = latex_label(report.run_name, "comparisons")
    return _long(align, header, rows, caption, label)


def _mark(index: int) -> str:
    return "abcdefghijklmnopqrstuvwxyz"[index % 26] if index < 26 else str(index)


def _name(name: Any, at: str = "/") -> str:
    """A configuration name on two lines, model above deployment, split after the "/" (never
    inside a word), so that name columns stay narrow."""
    head, sep, tail = str(name).partition(at)
    if not sep or not tail:
        return latex_escape(name)
    return _stack([latex_escape(head + sep), latex_escape(tail)], align="l")


def _by_attack(cells: pd.DataFrame, several: bool) -> list[dict[str, Any] | str]:
    """The cells' rows, attack by attack with the attack's name before its rows when the run
    has several: a heading row, not a column, keeps the tables within the page."""
    if not several:
        return list(records(cells))
    out: list[dict[str, Any] | str] = []
    for attack in dict.fromkeys(cells["attack"]):
        out.append(f"\\emph{{attack: {latex_escape(attack_name(attack))}}}")
        out += records(cells[cells["attack"] == attack])
    return out


def _grouped(
    cells: pd.DataFrame, several: bool, cells_of: Callable[[dict[str, Any]], list[str]]
) -> list[list[str]]:
    return [
        [entry] if isinstance(entry, str) else [_name(entry["configuration"]), *cells_of(entry)]
        for entry in _by_attack(cells, several)
    ]


def _counts(report: RunReport, several: bool) -> str:
    header = ["configuration", *map(_words, COUNTS)]
    rows = _grouped(report.cells, several, lambda row: [str(int(row[c])) for c in COUNTS])
    align = ["l", *["r"] * len(COUNTS)]
    caption = (
        f"{latex_escape(report.run_name)}: attempts per configuration. Errors, no tool support, "
        "unparseable and ungraded attempts are outside every denominator; blocked attempts are "
        "refusals of the deployment; refusal to detected proceeds count the labels of grader "
        f"{latex_escape(report.grader)} on harmful items."
    )
    label = latex_label(report.run_name, "counts")
    return _long(align, header, rows, caption, label)


def _rates(report: RunReport, several: bool) -> str:
    cells = report.cells
    names = [r for r in RATES if cells[r].notna().any()]
    header = [
        "configuration",
        *(_words(RATE_TITLES[r]) for r in names),
        "DP share",
        "$\\alpha$",
        "flag",
    ]

    def values(row: dict[str, Any]) -> list[str]:
        return [
            *(_rate_cell(row, r) for r in names),
            latex_escape(percent(row["dp_share"]).removesuffix("%")),
            latex_escape(coefficient(row["alpha"])),
            _stack((latex_escape(f) for f in flags(row["flag"]).split(", ") if f), align="l"),
        ]

    rows = _grouped(cells, several, values)
    align = ["l", *["r"] * (len(names) + 2), "l"]
    omitted = [RATE_TITLES[r] for r in RATES if r not in names]
    caption = (
        f"{latex_escape(report.run_name)}: rates in \\% of valid attempts with 95\\% intervals "
        f"({_interval(cells)}), grader {latex_escape(report.grader)}. ASR and refusal on "
        "harmful items, over-refusal on benign items; DP share: DETECTED\\_PROCEEDS among "
        "compliance; $\\alpha$: Krippendorff's alpha of all graders. Flags: unreadable (most "
        "answers unreadable to the grader: no rate), unvalidated (no second rater or human "
        f"labels), low\\_agreement (Gwet's AC1 $< {report.min_agreement:g}$), small\\_n "
        "(fewer than 30 valid attempts)."
        + (f" No attempt for: {latex_escape(', '.join(omitted))}." if omitted else "")
    )
    return _long(align, header, rows, caption, latex_label(report.run_name, "rates"))


def _interval(cells: pd.DataFrame) -> str:
    from harness.reporting._figures import interval_name

    return latex_escape(interval_name(cells["interval"]))


def _agreement(report: RunReport) -> str:
    table = report.agreement
    stats = [c for c in table.columns if c not in ("a", "b", "n", "note")]
    header = ["graders", "$n$", *(_stat_header(c) for c in stats)]
    rows = []
    notes: dict[str, str] = {}  # each reason once, marked on the rows it explains
    for row in records(table):
        # "a vs" above "b": two grader names side by side would widen the table past the page
        pair = latex_escape(row["a"])
        if row["b"]:
            pair = _stack([latex_escape(f"{row['a']} vs"), latex_escape(row["b"])], align="l")
        if row.get("note"):
            reason = str(row["note"]).removeprefix("n/a: ")
            mark = "\\textsuperscript{" + notes.setdefault(reason, _mark(len(notes))) + "}"
            pair = (
                pair.replace("\\end{tabular}", mark + "\\end{tabular}") if row["b"] else pair + mark
            )
        values = [
            latex_escape(percent(row[c]).removesuffix("%"))
            if c.startswith("percent")
            else latex_escape(coefficient(row[c]))
            for c in stats
        ]
        rows.append([pair, str(row["n"]), *values])
    reasons = "; ".join(
        f"\\textsuperscript{{{mark}}} {latex_escape(reason)}" for reason, mark in notes.items()
    )
    caption = (
        f"{latex_escape(report.run_name)}: agreement of the graders on strict success. "
        + latex_escape(AGREEMENT_LEGEND)
        + (f" Undefined (n/a): {reasons}." if notes else "")
    )
    align = ["l", "r", *["r"] * len(stats)]
    return _float(
        _tabular(align, header, rows),
        caption,
        latex_label(report.run_name, "agreement"),
        size="\\footnotesize",  # two grader names per row
    )


def _stat_header(column: str) -> str:
    return {
        "percent_agreement": "agreement (\\%)",
        "krippendorff_alpha": "Krippendorff's $\\alpha$",
        "cohen_kappa": "Cohen's $\\kappa$",
        "gwet_ac1": "Gwet's AC1",
    }.get(column, latex_escape(column.replace("_", " ")))


def _corrections(report: RunReport) -> str:
    table = report.corrections
    shown = [
        c
        for c in ("configuration", "grader", "sensitivity", "specificity", "raw_rate", "rate")
        if c in table
    ]
    titles = {"raw_rate": "raw ASR", "rate": "corrected ASR"}
    header = [_words(titles.get(c, c)) for c in shown]
    rows = []
    for row in records(table):
        line = []
        for c in shown:
            value = row[c]
            if c == "rate":
                line.append(_stack([_num(value), _interval_text(row.get("lo"), row.get("hi"))]))
            elif isinstance(value, float):
                line.append(_num(value))
            else:
                line.append(latex_escape(value))
        rows.append(line)
    caption = (
        f"{latex_escape(report.run_name)}: judge-error correction against "
        f"{latex_escape(report.reference or '')} (Rogan--Gladen), in \\%, with a bootstrap "
        "95\\% interval."
    )
    align = ["l" if c in ("configuration", "grader") else "r" for c in shown]
    return _long(align, header, rows, caption, latex_label(report.run_name, "correction"))


# ---------------------------------------------------------------------------------------------
# building blocks


def _num(value: Any) -> str:
    return "--" if value is None or pd.isna(value) else f"{100 * float(value):.1f}"


def _interval_text(low: Any, high: Any) -> str:
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return ""
    return f"[{100 * float(low):.1f}, {100 * float(high):.1f}]"


def _rate_cell(row: dict[str, Any] | None, rate: str) -> str:
    if row is None:
        return ""
    value = row[rate]
    if value is None or math.isnan(value):
        return "--"
    return _stack([f"{100 * value:.1f}", _interval_text(row[f"{rate}_lo"], row[f"{rate}_hi"])])


def _points_cell(diff: float, low: float, high: float) -> str:
    if diff is None or math.isnan(diff):
        return "--"
    return _stack([f"${100 * diff:+.1f}$", f"[${100 * low:+.1f}$, ${100 * high:+.1f}$]"])


def _p(value: float) -> str:
    text = p_value(value)
    return "--" if text == "–" else text


def _stack(lines: Any, align: str = "r") -> str:
    """Lines above one another in one cell (a nested tabular: no package needed)."""
    kept = [line for line in lines if line]
    if len(kept) <= 1:
        return kept[0] if kept else ""
    # {} before a line starting with [ keeps \\ from reading it as an optional argument
    body = " \\\\ ".join("{}" + line if line.startswith("[") else line for line in kept)
    return f"\\begin{{tabular}}[t]{{@{{}}{align}@{{}}}}{body}\\end{{tabular}}"


def _words(name: str) -> str:
    """A header of several words on as many lines, so that the column is no wider than them."""
    words = name.replace("_", " ").split()
    return _stack([latex_escape(w) for w in words], align="c")


def _tabular(align: Sequence[str], header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [
        f"\\begin{{tabular}}{{@{{}}{''.join(align)}@{{}}}}",
        "\\toprule",
        " & ".join(header) + " \\\\",
        "\\midrule",
        *_body(rows, len(align)),
        "\\bottomrule",
        "\\end{tabular}",
    ]
    return "\n".join(lines)


# article's text width: 345pt (letter, 10pt); the estimate is checked by the Overfull test
_PORTRAIT_PT = 345.0
_CHAR_PT = 3.5  # an average character of \footnotesize Computer Modern (digits 4pt)
_COLUMN_PT = 8.0  # \tabcolsep on both sides
_MARKUP = re.compile(
    r"\\begin\{tabular\}\[t\]\{@\{\}[lrc]@\{\}\}|\\end\{tabular\}|\\textsuperscript\{[^}]*\}"
    r"|\\[a-z]+\{\}|\\(?=[_%$&#{}])|\\[a-z]+|[${}]"
)


def _estimated_width(rows: Sequence[Sequence[str]]) -> float:
    """The table's width in points, from the longest line of text in each column (a cell's
    stacked lines apart); heading rows across the table do not count."""
    widths: dict[int, int] = {}
    for row in rows:
        if len(row) == 1:
            continue
        for index, cell in enumerate(row):
            lines = [_MARKUP.sub("", line) for line in cell.split("\\\\")]
            longest = max((len(line.strip()) for line in lines), default=0)
            widths[index] = max(widths.get(index, 0), longest)
    return sum(n * _CHAR_PT + _COLUMN_PT for n in widths.values())


def _body(rows: Sequence[Sequence[str]], columns: int) -> list[str]:
    """The rows; a row of one cell is a heading across the table (e.g. an attack)."""
    # rows of two-line cells need air between them, or a row's interval touches the next
    stacked = any("\\begin{tabular}" in cell for row in rows for cell in row)
    gap = "\\addlinespace[3pt]" if stacked else ""
    lines = []
    for index, row in enumerate(rows):
        if len(row) == 1 and columns > 1:
            space = "\\addlinespace " if index else ""
            lines.append(f"{space}\\multicolumn{{{columns}}}{{@{{}}l}}{{{row[0]}}} \\\\")
        else:
            lines.append(" & ".join(row) + " \\\\" + gap)
    if lines and gap:
        lines[-1] = lines[-1].removesuffix(gap)
    return lines


def _float(body: str, caption: str, label: str, size: str = "\\small") -> str:
    return "\n".join(
        [
            "\\begin{table}[htbp]",
            "\\centering",
            size,
            f"\\caption{{{caption}}}",
            f"\\label{{{label}}}",
            body,
            "\\end{table}",
        ]
    )


def _long(
    align: Sequence[str],
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    caption: str,
    label: str,
) -> str:
    """A longtable: breaks across pages when a run has many configurations. One too wide for
    a portrait page is set on landscape pages (pdflscape: the PDF viewer shows them upright)."""
    landscape = _estimated_width([header, *rows]) > _PORTRAIT_PT
    head = " & ".join(header) + " \\\\"
    columns = len(align)
    lines = [
        *(["\\begin{landscape}"] if landscape else []),
        "{\\footnotesize",
        "\\setlength{\\tabcolsep}{4pt}",
        f"\\begin{{longtable}}{{@{{}}{''.join(align)}@{{}}}}",
        f"\\caption{{{caption}}}\\label{{{label}}} \\\\",
        "\\toprule",
        head,
        "\\midrule",
        "\\endfirsthead",
        f"\\multicolumn{{{columns}}}{{@{{}}l}}{{\\emph{{(continued)}}}} \\\\",
        "\\toprule",
        head,
        "\\midrule",
        "\\endhead",
        "\\bottomrule",
        "\\endlastfoot",
        *_body(rows, len(align)),
        "\\end{longtable}",
        "}",
        *(["\\end{landscape}"] if landscape else []),
    ]
    return "\n".join(lines)
