"""A run report as one self-contained HTML file: tables, figures, warnings, provenance.

The file must open years later, offline, from an e-mail attachment or an archive: CSS is inline,
figures are embedded as data: URIs, and nothing is fetched from the network. Every string that
came from a config, a suite or a manifest is HTML-escaped, because configuration names, grader
names and commands are user-supplied text.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from harness._errors import DataError
from harness._version import __version__

__all__ = ["Section", "is_numeric_column", "render_report", "write_report"]

_MIME = {
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
# the browser enforces what this module promises: no fetches, no scripts, only inline styles
# and embedded images, even if a future change slipped an external reference in
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'"
_NA = "–"

_CSS = """
:root { color-scheme: light; }
*, *::before, *::after { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  color: #1b1b1b; background: #fff; margin: 0 auto; max-width: 1280px; padding: 1.5rem 2rem; }
h1 { font-size: 1.6rem; margin: 0 0 1rem; overflow-wrap: anywhere; }
h2 { font-size: 1.2rem; margin: 2rem 0 0.6rem; border-bottom: 1px solid #ddd; }
p { white-space: pre-line; max-width: 90ch; }
nav { font-size: 13px; color: #555; }
nav a { color: #0b5cad; margin-right: 0.8rem; text-decoration: none; }
.warnings { background: #fff4e5; border: 1px solid #e69f00; border-left: 6px solid #d55e00;
  border-radius: 4px; padding: 0.6rem 1rem; margin: 1rem 0; }
.warnings h2 { border: 0; margin: 0 0 0.3rem; color: #8a3a00; }
.warnings ul { margin: 0; padding-left: 1.2rem; }
.warnings li { overflow-wrap: anywhere; }
.table-wrap { overflow-x: auto; max-width: 100%; margin: 0.5rem 0 1rem; }
table.data { border-collapse: collapse; font-size: 13px; line-height: 1.35;
  font-variant-numeric: tabular-nums; }
table.data th, table.data td { border: 1px solid #ddd; padding: 0.25rem 0.45rem;
  vertical-align: top; }
table.data th { background: #f3f3f3; text-align: left; font-weight: 600;
  overflow-wrap: normal; hyphens: none; }
table.data td { text-align: left; hyphens: none; overflow-wrap: normal; }
table.data td.num { text-align: right; white-space: nowrap; }
table.data th.num { text-align: right; }
table.data td.id { white-space: nowrap; }
table.data td.muted { color: #777; }
table.data tbody tr:nth-child(even) { background: #fafafa; }
details { margin: 0.3rem 0 0.8rem; }
details summary { cursor: pointer; font-weight: 600; color: #333; }
figure { margin: 1rem 0 2rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 13px; }
pre { background: #f6f8fa; border: 1px solid #ddd; border-radius: 4px; padding: 0.7rem 1rem;
  overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere;
  font: 13px/1.45 ui-monospace, "DejaVu Sans Mono", Menlo, monospace; }
footer { color: #777; font-size: 12px; margin-top: 3rem; }
"""


@dataclass(frozen=True)
class Section:
    """A heading with an optional paragraph text (blank lines split paragraphs), a table, and
    further tables folded under a summary line each (`details`: (summary, table) pairs).

    In a table, a line break in a value is kept (e.g. a rate above its interval), a column
    whose values all read as numbers is right-aligned, and a value without spaces (a name) is
    never broken across lines."""

    heading: str
    table: pd.DataFrame | None = None
    text: str | None = None
    details: Sequence[tuple[str, pd.DataFrame]] = ()
    anchor: str | None = None


def _e(text: Any) -> str:
    return escape(str(text), quote=True)


def render_report(
    *,
    title: str,
    sections: Sequence[Section],
    figures: Sequence[Path],
    manifest: Mapping[str, Any],
    commands: Sequence[str],
    warnings: Sequence[str],
    captions: Mapping[str, str] | None = None,
) -> str:
    """The whole report as one HTML5 document.

    `captions` says what each figure shows, by file stem (e.g. "kappa"); the file name is
    shown beside it.

    A figure given in several formats (same path without suffix, e.g. the PNG and SVG a figure
    function returns) is embedded once, as SVG: it scales without blurring.
    """
    body = [
        f"<h1>{_e(title)}</h1>",
        _nav_html(sections),
        _warnings_html(warnings),
        *(_section_html(s) for s in sections),
        _figures_html(figures, captions or {}),
        _commands_html(commands),
        _manifest_html(manifest),
        f"<footer>Generated by harness {_e(__version__)}.</footer>",
    ]
    return _document(title, "\n".join(part for part in body if part))


def _document(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def _nav_html(sections: Sequence[Section]) -> str:
    links = [
        f'<a href="#{_e(_anchor(s.anchor))}">{_e(s.heading.split(" (")[0])}</a>'
        for s in sections
        if s.anchor
    ]
    return f"<nav>{' '.join(links)}</nav>" if links else ""


def _warnings_html(warnings: Sequence[str]) -> str:
    if not warnings:
        return ""
    items = "\n".join(f"<li>{_e(w)}</li>" for w in warnings)
    return (
        '<section class="warnings" role="alert">\n'
        f"<h2>Warnings ({len(warnings)})</h2>\n<ul>\n{items}\n</ul>\n</section>"
    )


def _section_html(section: Section) -> str:
    anchor = f' id="{_e(_anchor(section.anchor))}"' if section.anchor else ""
    parts = [f"<section{anchor}>\n<h2>{_e(section.heading)}</h2>"]
    if section.text:
        parts += [f"<p>{_e(p.strip())}</p>" for p in section.text.split("\n\n") if p.strip()]
    if section.table is not None:
        parts.append(f'<div class="table-wrap">\n{_table_html(section.table)}\n</div>')
    for summary, table in section.details:
        parts.append(
            f"<details>\n<summary>{_e(summary)}</summary>\n"
            f'<div class="table-wrap">\n{_table_html(table)}\n</div>\n</details>'
        )
    parts.append("</section>")
    return "\n".join(parts)


def _anchor(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "section"


def _table_html(table: pd.DataFrame) -> str:
    # a default 0..n-1 index carries no information; a named one (graders, say) does
    if not isinstance(table.index, pd.RangeIndex):
        table = table.reset_index()
    columns = [str(c) for c in table.columns]
    numeric = [is_numeric_column(table.iloc[:, i]) for i in range(len(columns))]
    # a header may break after an underscore, never inside a word
    head = "".join(
        ('<th class="num">' if num else "<th>") + _e(c).replace("_", "_<wbr>") + "</th>"
        for c, num in zip(columns, numeric, strict=True)
    )
    rows = []
    for values in table.itertuples(index=False, name=None):
        cells = "".join(_cell_html(v, num) for v, num in zip(values, numeric, strict=True))
        rows.append(f"<tr>{cells}</tr>")
    body = "\n".join(rows)
    return (
        f'<table class="data">\n<thead>\n<tr>{head}</tr>\n</thead>\n'
        f"<tbody>\n{body}\n</tbody>\n</table>"
    )


_NUMBER = re.compile(r"^\s*[-+–−$]?\s*(\d|–$|n/a$)")


def is_numeric_column(column: pd.Series[Any]) -> bool:
    """Numbers, or text that reads as one ('55.6% [..]', '+3.1 pp', '–'): right-aligned."""
    if column.dtype.kind in "iufb":
        return True
    present = [v for v in column if not _missing(v)]
    return bool(present) and all(_NUMBER.match(str(v)) for v in present)


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or array in a cell is a value
        return False


def _cell_html(value: Any, numeric: bool) -> str:
    if _missing(value):
        return f'<td class="{"num " if numeric else ""}muted">{_NA}</td>'
    text = f"{value:.3f}" if isinstance(value, float) and numeric else str(value)
    if not text.strip():
        return "<td></td>"
    shown = "<br>".join(_e(line) for line in text.split("\n"))
    if numeric:
        return f'<td class="num">{shown}</td>'
    # a name (no space in it) is never broken: "gemma-270m/raw", not "gemma-/270m/raw"
    return f'<td class="id">{shown}</td>' if " " not in text.strip() else f"<td>{shown}</td>"


def _figures_html(figures: Sequence[Path], captions: Mapping[str, str]) -> str:
    chosen = _one_format_each(figures)
    if not chosen:
        return ""
    shown = [_figure_html(path, captions.get(path.stem)) for path in chosen]
    return "\n".join(['<section id="figures">\n<h2>Figures</h2>', *shown, "</section>"])


def _one_format_each(figures: Sequence[Path]) -> list[Path]:
    """First-seen order, one path per figure, SVG over any raster twin."""
    by_stem: dict[Path, Path] = {}
    for path in map(Path, figures):
        key = path.with_suffix("")
        if key not in by_stem or path.suffix.lower() == ".svg":
            by_stem[key] = path
    return list(by_stem.values())


def _figure_html(path: Path, caption: str | None = None) -> str:
    mime = _MIME.get(path.suffix.lower())
    if mime is None:
        raise DataError(
            f"cannot embed figure {path.name}: unknown image type",
            file=path,
            fix=f"pass one of {', '.join(sorted(_MIME))}",
        )
    try:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError as exc:
        raise DataError(f"cannot read figure: {exc}", file=path, fix="render it first") from None
    # an <img>, not inline <svg>: an image document cannot run scripts or fetch anything, and
    # two figures' element ids cannot collide
    return (
        f'<figure>\n<img src="data:{mime};base64,{data}" alt="{_e(caption or path.stem)}">\n'
        f"<figcaption>{_e(caption + ' ') if caption else ''}({_e(path.name)})</figcaption>\n"
        "</figure>"
    )


def _commands_html(commands: Sequence[str]) -> str:
    listing = "\n".join(_e(c) for c in commands) if commands else "(no commands recorded)"
    return f"<section>\n<h2>Reproduce</h2>\n<pre><code>{listing}</code></pre>\n</section>"


def _manifest_html(manifest: Mapping[str, Any]) -> str:
    # default=str: a manifest may hold paths or datetimes; the report must not fail on them
    text = json.dumps(dict(manifest), indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return (
        "<section>\n<h2>Manifest</h2>\n<details>\n"
        "<summary>manifest.json: what this run was made from</summary>\n"
        f"<pre><code>{_e(text)}</code></pre>\n</details>\n</section>"
    )


def write_report(path: Path, html: str) -> Path:
    """Write atomically, so a reader never opens half a report; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path
