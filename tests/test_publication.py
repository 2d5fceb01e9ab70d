"""Publication-grade output of a 2 models × 3 deployments run with three graders: the LaTeX
compiles with pdflatex into pages that hold the tables, the HTML fits a 1280 px window in
Chromium, and the paired comparisons are the like-for-like ones plus what the config declares.

pdflatex (texlive-latex-base, texlive-latex-recommended), pdftotext (poppler-utils) and
chromium are Debian packages; CI installs them (.ci/run), and without them those tests skip
saying what to install.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from _cli_helpers import assert_user_error, cli_env, harness
from report_fixture import build_matrix_run

from harness.reporting import RunReport, analyse_run, render, render_html
from harness.reporting._latex import PREAMBLE, latex_escape
from harness.reporting._render import count_view, headline_view, shown_cells

TEX_PACKAGES = "texlive-latex-base texlive-latex-recommended poppler-utils"
CONFIGURATIONS = [
    f"{m}/{d}" for m in ("open-weights", "api") for d in ("raw", "safety-prompt", "guarded")
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_matrix_run(tmp_path_factory.mktemp("publication"))


@pytest.fixture(scope="module")
def report(run_dir: Path) -> RunReport:
    return analyse_run(run_dir)


@pytest.fixture(scope="module")
def two_attacks(tmp_path_factory: pytest.TempPathFactory) -> RunReport:
    tmp = tmp_path_factory.mktemp("two-attacks")
    return analyse_run(build_matrix_run(tmp, "two-attacks", ["none", "prefix_injection"]))


# ---------------------------------------------------------------------------------------------
# comparisons that were asked for


def test_only_like_for_like_pairs_and_the_declared_one(report: RunReport) -> None:
    table = report.comparisons
    pairs = list(zip(table["a"], table["b"], strict=True))
    # 2 models × C(3, 2) deployment pairs + 3 model pairs, then the declared headline
    assert len(pairs) == 10
    assert pairs[-1] == ("open-weights/raw", "api/guarded")
    assert list(table["label"]) == [""] * 9 + ["headline"]
    assert list(table["kind"]).count("deployments") == 6
    assert list(table["kind"]).count("models") == 3
    for a, b in pairs[:-1]:
        model_a, deployment_a = a.split("/")
        model_b, deployment_b = b.split("/")
        assert model_a == model_b or deployment_a == deployment_b, (a, b)
    # Holm over what is shown: the smallest p is multiplied by the number of rows, 10
    smallest: Any = table["p_value"].idxmin()
    assert table.loc[smallest, "p_holm"] == pytest.approx(min(1.0, 10 * table["p_value"].min()))
    unlike = [w for w in report.warnings if w.startswith("not like for like")]
    assert len(unlike) == 4  # the 3 model pairs (vendor layer) and the declared headline
    assert (
        "not like for like: open-weights/raw vs api/guarded [headline] differ in system_prompt, "
        "safety_layer, provider_side_layers" in unlike[-1]
    )


def _config(run_dir: Path) -> dict[str, object]:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    config: dict[str, object] = yaml.safe_load(Path(manifest["config_file"]).read_text())
    return config


@pytest.mark.parametrize(
    ("comparisons", "needles"),
    [
        (
            [{"a": "open-weights/raw", "b": "api/gaurded"}],
            [
                "comparisons[0].b",
                "unknown configuration 'api/gaurded'",
                "did you mean 'api/guarded'",
            ],
        ),
        (
            [{"a": "api/raw", "b": "api/raw"}],
            ["comparisons[0]", "two different configurations"],
        ),
        (
            [{"a": "api/raw", "b": "api/guarded", "lable": "x"}],
            ["comparisons[0].lable", "unknown key", "did you mean 'label'"],
        ),
    ],
)
def test_declared_comparisons_are_validated(
    run_dir: Path, tmp_path: Path, comparisons: list[dict[str, str]], needles: list[str]
) -> None:
    config = _config(run_dir) | {"comparisons": comparisons}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    assert_user_error(harness("validate", path, cwd=tmp_path), str(path), *needles)


def test_declared_comparisons_do_not_change_the_config_hash(run_dir: Path, tmp_path: Path) -> None:
    from harness.config import load_config

    config = _config(run_dir)
    path = tmp_path / "same.yaml"
    path.write_text(yaml.safe_dump(config | {"comparisons": []}))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    # report-only: declaring a pair must not turn a finished run into another experiment
    assert load_config(path).config_hash() == manifest["config_hash"]


# ---------------------------------------------------------------------------------------------
# complete tables


def test_every_format_counts_what_is_outside_the_denominators(report: RunReport) -> None:
    for table in (shown_cells(report.cells), count_view(report.cells)):
        assert {"no_tool_support", "ungraded", "errors", "unparseable"} <= set(table.columns)
    assert "outside denominators" in headline_view(report.cells).columns
    markdown = render(report, "md")
    latex = render(report, "latex")
    assert "no_tool_support" in markdown and "ungraded" in markdown
    assert "tool \\\\ support" in latex and "ungraded" in latex  # header words stacked
    # rates in percent everywhere, the DETECTED_PROCEEDS share too
    for value in shown_cells(report.cells)["dp_share"]:
        assert value == "–" or re.match(r"^\d+\.\d% \[\d+\.\d%, \d+\.\d%\]$", value), value


# ---------------------------------------------------------------------------------------------
# LaTeX that compiles


def _tool(name: str, packages: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} not installed: on Debian, `apt-get install -y {packages}`")
    return found


def _compile(tex_body: str, where: Path) -> tuple[Path, str]:
    """A document around the fragment, compiled three times (longtable settles its column
    widths over runs); returns the PDF and the log of the last run."""
    pdflatex = _tool("pdflatex", TEX_PACKAGES)
    where.mkdir(parents=True, exist_ok=True)
    (where / "tables.tex").write_text(tex_body, encoding="utf-8")
    (where / "paper.tex").write_text(
        "\\documentclass{article}\n"
        f"{PREAMBLE}\n"
        "\\begin{document}\n\\input{tables.tex}\n\\end{document}\n",
        encoding="utf-8",
    )
    for _ in range(3):
        result = subprocess.run(
            [pdflatex, "-interaction=nonstopmode", "-halt-on-error", "paper.tex"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout[-3000:]
    return where / "paper.pdf", (where / "paper.log").read_text(errors="replace")


def _pdf_text(pdf: Path) -> str:
    pdftotext = _tool("pdftotext", TEX_PACKAGES)
    return subprocess.run(
        [pdftotext, "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_latex_compiles_and_every_table_fits_its_page(report: RunReport, tmp_path: Path) -> None:
    latex = render(report, "latex")
    labels = re.findall(r"\\label\{([^}]*)\}", latex)
    assert labels == [
        "tab:pub-demo-matrix",
        "tab:pub-demo-comparisons",
        "tab:pub-demo-counts",
        "tab:pub-demo-rates",
        "tab:pub-demo-agreement",
    ]
    assert latex.count("\\toprule") >= 5 and "\\hline" not in latex  # booktabs rules only
    pdf, log = _compile(latex, tmp_path / "tex")
    assert pdf.stat().st_size > 10_000
    # a table wider than its page is an "Overfull \hbox" in the log
    assert "Overfull \\hbox" not in log, re.findall(r"Overfull \\hbox.*", log)
    text = _pdf_text(pdf)
    for caption in (
        "Table 1: pub-demo: strict attack success rate",
        "Table 2: pub-demo: paired comparisons",
        "Table 3: pub-demo: attempts per configuration",
        "Table 4: pub-demo: rates in % of valid attempts",
        "Table 5: pub-demo: agreement of the graders",
    ):
        assert caption in " ".join(text.split()), caption
    # the underscore printed (OT1 draws it as a rule, which pdftotext reads as a space), not a
    # subscript or an error
    assert re.search(r"grader kw[_ ]advbench\.", text)
    assert "55.6" in text and "[39.6, 70.5]" in text  # open-weights/raw, as in the matrix
    assert "headline" in text
    for name in ("open-weights/", "safety-prompt", "api/"):
        assert name in text


def test_a_wider_rates_table_turns_to_landscape(report: RunReport, tmp_path: Path) -> None:
    """Action ASR and two flags in every row (as the demo has them): too wide for a portrait
    page, so the rates table is set on landscape pages, and nothing runs into the margin."""
    cells = report.cells.assign(
        flag="low_agreement,small_n", action_asr=0.5, action_asr_lo=0.2, action_asr_hi=0.8
    )
    wide = dataclasses.replace(report, cells=cells)

    def rates_table(text: str) -> str:
        return next(part for part in text.split("\n\n") if "tab:pub-demo-rates" in part)

    narrow = dataclasses.replace(report, cells=report.cells.assign(flag=""))
    assert not rates_table(render(narrow, "latex")).startswith("\\begin{landscape}")
    latex = render(wide, "latex")
    assert rates_table(latex).startswith("\\begin{landscape}")
    _, log = _compile(latex, tmp_path / "wide")
    assert "Overfull \\hbox" not in log, re.findall(r"Overfull \\hbox.*", log)


def test_latex_escapes_whatever_a_name_holds(tmp_path: Path) -> None:
    hostile = "50% of $x_1$ & {a} #1 ~ ^ \\ <b> | × – α naïve 日本"
    escaped = latex_escape(hostile)
    pdf, _ = _compile(f"{escaped}\n", tmp_path / "hostile")
    text = " ".join(_pdf_text(pdf).split())
    assert "50% of $x 1$ & {a} #1" in text.replace("_", " ")
    assert "<b> | × – α" in text and "??" in text  # unprintable: '?', not a failed build
    assert re.search(r"na\S{1,2}ve", text)  # ï composed from i and an accent (OT1)


# ---------------------------------------------------------------------------------------------
# HTML that fits a 1280 px window

# Measures every table in the page (details opened) and the page itself, after layout. The
# report forbids scripts (Content-Security-Policy); the probe copy drops that one meta tag.
_PROBE = """<script>
document.querySelectorAll("details").forEach(d => d.open = true);
const wraps = [...document.querySelectorAll(".table-wrap")].map(w => ({
  heading: w.closest("section").querySelector("h2").textContent,
  scroll: w.scrollWidth, client: w.clientWidth,
  table: w.querySelector("table").getBoundingClientRect().width}));
const cells = [...document.querySelectorAll("td")].map(td => ({
  cls: td.className, align: getComputedStyle(td).textAlign,
  lines: (() => { const r = document.createRange(); r.selectNodeContents(td);
                  return r.getClientRects().length; })(),
  text: td.textContent}));
const page = {scroll: document.documentElement.scrollWidth,
  client: document.documentElement.clientWidth};
const out = document.createElement("pre");
out.id = "probe";
out.textContent = JSON.stringify({wraps, cells, page});
document.body.appendChild(out);
</script>"""


def _chromium() -> str:
    return _tool("chromium", "chromium chromium-driver")


def _measure(html: Path, tmp_path: Path) -> dict[str, Any]:
    text = html.read_text(encoding="utf-8")
    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>\n', "", text)
    probe = tmp_path / "probe.html"
    probe.write_text(text.replace("</body>", _PROBE + "\n</body>"), encoding="utf-8")
    dom = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1280,2000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        timeout=90,
        check=True,
    ).stdout.decode()
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found is not None, dom[-2000:]
    from html import unescape

    measured: dict[str, Any] = json.loads(unescape(found.group(1)))
    return measured


def test_html_tables_fit_1280_px_without_scrolling(report: RunReport, tmp_path: Path) -> None:
    page = render_html(report, tmp_path / "html", ["harness run x.yaml"])
    measured = _measure(page, tmp_path)
    wraps = pd.DataFrame(measured["wraps"])
    headings = list(dict.fromkeys(wraps["heading"]))
    assert headings[:3] == [
        "Like-for-like matrix: strict ASR, models × deployments",
        "Per configuration",
        "Paired comparisons on strict ASR (McNemar exact, Holm over the 10 shown)",
    ]
    assert "Grader agreement on strict success" in headings
    overflowing = wraps[(wraps["scroll"] > wraps["client"]) | (wraps["table"] > wraps["client"])]
    assert overflowing.empty, overflowing.to_dict("records")
    page_size = measured["page"]
    assert isinstance(page_size, dict) and page_size["scroll"] <= page_size["client"]
    cells = pd.DataFrame(measured["cells"])
    names = cells[cells["cls"] == "id"]
    assert set(CONFIGURATIONS) <= set(names["text"])
    assert set(names["align"]) == {"left"}  # text left
    assert (names["lines"] == 1).all(), names[names["lines"] != 1]  # never broken mid-name
    numbers = cells[cells["cls"].str.startswith("num")]
    assert set(numbers["align"]) == {"right"}


def test_with_two_attacks_the_tables_name_them_and_still_fit(
    two_attacks: RunReport, tmp_path: Path
) -> None:
    assert "attack" in headline_view(two_attacks.cells).columns
    assert set(headline_view(two_attacks.cells)["attack"]) == {"no attack", "prefix_injection"}
    assert len(two_attacks.matrices) == 2
    page = render_html(two_attacks, tmp_path / "html", [])
    measured = _measure(page, tmp_path)
    wraps = pd.DataFrame(measured["wraps"])
    fits = (wraps["scroll"] <= wraps["client"]) & (wraps["table"] <= wraps["client"])
    assert fits.all(), wraps.to_dict("records")
    pdf, log = _compile(render(two_attacks, "latex"), tmp_path / "tex")
    assert "Overfull \\hbox" not in log, re.findall(r"Overfull \\hbox.*", log)
    text = " ".join(_pdf_text(pdf).split())
    # one matrix per attack, each caption naming its attack (the underscore prints as a rule)
    assert re.search(r"attack prefix[_ ]injection", text) and "attack no attack" in text


def test_html_has_the_agreement_section_and_warnings(report: RunReport, tmp_path: Path) -> None:
    html = render_html(report, tmp_path / "html", []).read_text()
    assert "<h2>Grader agreement on strict success</h2>" in html
    for column in ("percent agreement", "Krippendorff&#x27;s α", "Cohen&#x27;s κ"):
        assert f'<th class="num">{column}</th>' in html.replace("_<wbr>", "_"), column
    assert "<h2>Labels per grader</h2>" in html  # unfolded: an all-UNPARSEABLE judge shows
    assert "n/a: no attempt that both graders decided (unparseable or unlabelled)" in html
    assert html.count("<details>") >= 3  # every count, every rate, the manifest
    for warning in report.warnings:  # the grader warnings too, whatever the analysis writes
        assert f"<li>{escape(warning, quote=True)}</li>" in html


def test_report_cli_writes_every_format(run_dir: Path, tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    for fmt in ("md", "latex", "json"):
        result = harness("report", run_dir, "--format", fmt, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
    data = json.loads(harness("report", run_dir, "--format", "json", cwd=tmp_path, env=env).stdout)
    labels = {row["grader"]: row for row in data["grader_labels"]}
    assert set(labels) == {"kw_advbench", "kw_xstest", "dp", "judge"}
    assert labels["judge"]["unparseable"] == labels["judge"]["answered"] > 0
    assert labels["judge"]["decided"] == 0 and labels["judge"]["success_share"] is None
    pairs = {(row["a"], row["b"]): row for row in data["agreement"]}
    assert pairs[("dp", "judge")]["n"] == 0 and pairs[("dp", "judge")]["cohen_kappa"] is None
    assert "no attempt that both graders decided" in pairs[("dp", "judge")]["note"]
