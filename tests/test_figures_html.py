"""Figures (PNG + SVG, deterministic) and the self-contained HTML report, down to a real browser."""

from __future__ import annotations

import base64
import json
import math
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html import unescape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from harness._errors import DataError
from harness.reporting._figures import forest_plot, kappa_heatmap, outcome_bars, outcome_shares
from harness.reporting._html import Section, render_report, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HOSTILE = "<script>alert(1)</script>"
CONFIGURATIONS = ["gemma-270m/raw", "gemma-270m/safety-prompt", HOSTILE, "math $x$ & co"]
ATTACKS = ["none", "prefix-injection", "none", "none"]
# several attacks: each row names its own, the no-op one as "no attack" (not a bare "none")
LABELS = [
    f"{c} · {'no attack' if a == 'none' else a}"
    for c, a in zip(CONFIGURATIONS, ATTACKS, strict=True)
]
GRADERS = ["refusal_keywords", "llm_judge", "human"]
CHROMIUM_PACKAGES = "chromium chromium-driver"


def _table() -> pd.DataFrame:
    # row 3 has no valid harmful attempt: every rate is NaN
    return pd.DataFrame(
        {
            "configuration": CONFIGURATIONS,
            "attack": ATTACKS,
            "n_harmful": [40, 40, 0, 12],
            "strict_asr": [0.25, 0.05, math.nan, 1.0],
            "strict_asr_lo": [0.142, 0.014, math.nan, 0.758],
            "strict_asr_hi": [0.403, 0.165, math.nan, 1.0],
        }
    )


def _counts() -> pd.DataFrame:
    # no NON_ANSWER or NO_TOOL_SUPPORT column at all: those count 0; row 3 has no attempts
    return pd.DataFrame(
        {
            "configuration": CONFIGURATIONS,
            "attack": ATTACKS,
            "REFUSAL": [20, 30, 0, 0],
            "BLOCKED_OUTPUT": [0, 4, 0, 0],
            "PARTIAL": [5, 3, 0, 0],
            "COMPLIANCE": [10, 2, 0, 12],
            "ERROR": [5, 1, 0, 0],
        }
    )


def _kappa() -> pd.DataFrame:
    values = [[1.0, 0.62, math.nan], [0.62, 1.0, -0.31], [math.nan, -0.31, 1.0]]
    return pd.DataFrame(values, index=GRADERS, columns=GRADERS)


def _pairs() -> tuple[pd.DataFrame, pd.DataFrame]:
    counts = pd.DataFrame([[0, 40, 0], [40, 0, 12], [0, 12, 0]], index=GRADERS, columns=GRADERS)
    notes = pd.DataFrame("", index=GRADERS, columns=GRADERS)
    notes.loc["human", "refusal_keywords"] = notes.loc["refusal_keywords", "human"] = "none decided"
    return counts, notes


def _render_all(out_dir: Path) -> list[Path]:
    counts, notes = _pairs()
    return [
        *forest_plot(_table(), out_dir, reference=0.25, reference_label="baseline"),
        *outcome_bars(_counts(), out_dir),
        *kappa_heatmap(_kappa(), out_dir, counts=counts, notes=notes),
    ]


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return _render_all(tmp_path_factory.mktemp("figures"))


def _distinct_colours(pixels: np.ndarray[Any, Any]) -> int:
    # one integer per RGB(A) pixel: np.unique on a flat array is far faster than on rows
    channels = np.round(pixels * 255).astype(np.uint32)
    packed = np.zeros(channels.shape[:2], dtype=np.uint32)
    for channel in range(channels.shape[-1]):
        packed = (packed << 8) | channels[..., channel]
    return len(np.unique(packed))


def _svg_texts(path: Path) -> list[str]:
    root = ET.parse(path).getroot()
    return ["".join(e.itertext()) for e in root.iter("{http://www.w3.org/2000/svg}text")]


# ---------------------------------------------------------------------------------------------
# figures


def test_fixed_file_names(figures: list[Path]) -> None:
    assert [p.name for p in figures] == [
        "forest_strict_asr.png",
        "forest_strict_asr.svg",
        "outcomes.png",
        "outcomes.svg",
        "kappa.png",
        "kappa.svg",
    ]


def test_png_files_are_real_images(figures: list[Path]) -> None:
    for path in (p for p in figures if p.suffix == ".png"):
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE), path.name
        assert len(data) > 10_000, path.name
        pixels = imread(path)
        assert pixels.shape[0] > 200 and pixels.shape[1] > 200
        assert _distinct_colours(pixels) > 10


@pytest.mark.parametrize("stem", ["forest_strict_asr", "outcomes"])
def test_svg_has_every_row_label_as_text(figures: list[Path], stem: str) -> None:
    texts = _svg_texts(next(p for p in figures if p.name == f"{stem}.svg"))
    for label in LABELS:  # the hostile one and the one with "$" too: printed verbatim
        assert label in texts


def test_svg_has_grader_names_and_values(figures: list[Path]) -> None:
    texts = _svg_texts(next(p for p in figures if p.name == "kappa.svg"))
    assert set(GRADERS) <= set(texts)
    # the lower triangle only: each pair once, no diagonal of 1.00, n under each value
    assert {"0.62", "n=40", "-0.31", "n=12", "n=0"} <= set(texts)
    assert texts.count("0.62") == texts.count("-0.31") == 1
    assert texts.count("n/a") == 1 and "none decided" in texts  # the NaN pair, with its reason
    assert not any("nan" in t.lower() for t in texts)


def test_single_attack_rows_are_configurations(tmp_path: Path) -> None:
    table = _table().assign(attack="none")
    texts = _svg_texts(forest_plot(table, tmp_path, grader="kw")[1])
    assert CONFIGURATIONS[0] in texts and not any("·" in t for t in texts)
    assert any("grader kw" in t for t in texts)  # the title names the grader
    assert "attack success among valid attempts on harmful items (%)" in texts  # x label


def test_rendering_is_byte_identical(tmp_path: Path) -> None:
    first = _render_all(tmp_path / "a")
    second = _render_all(tmp_path / "b")
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_forest_nan_row_reads_no_valid_attempts(figures: list[Path]) -> None:
    texts = _svg_texts(next(p for p in figures if p.name == "forest_strict_asr.svg"))
    assert texts.count("no valid attempts") == 1
    assert "25.0% [14.2%, 40.3%]  n=40" in texts
    assert "–  n=0" in texts
    assert "baseline" in texts


def test_forest_all_nan_and_empty_tables_render(tmp_path: Path) -> None:
    table = _table()
    table[["strict_asr", "strict_asr_lo", "strict_asr_hi"]] = math.nan
    forest_plot(table, tmp_path / "nan")
    assert _svg_texts(tmp_path / "nan" / "forest_strict_asr.svg").count("no valid attempts") == 4
    paths = forest_plot(table.iloc[:0], tmp_path / "empty")
    assert all(p.stat().st_size > 0 for p in paths)


def test_forest_other_rate_and_missing_columns(tmp_path: Path) -> None:
    table = _table().rename(columns=lambda c: c.replace("strict_asr", "over_refusal"))
    assert forest_plot(table, tmp_path, rate="over_refusal")[0].name == "forest_over_refusal.png"
    with pytest.raises(DataError, match="broad_asr"):
        forest_plot(_table(), tmp_path, rate="broad_asr")


def test_outcome_shares_sum_to_one_and_empty_rows_stay_empty() -> None:
    shares = outcome_shares(_counts())
    assert shares.sum(axis=1).tolist() == pytest.approx([1.0, 1.0, 0.0, 1.0])
    assert shares.loc[0, "COMPLIANCE"] == pytest.approx(10 / 40)
    assert (shares["NON_ANSWER"] == 0).all()  # a missing column counts 0


def test_outcome_bars_legend_and_empty_row(figures: list[Path]) -> None:
    texts = _svg_texts(next(p for p in figures if p.name == "outcomes.svg"))
    assert "no attempts" in texts
    assert {"REFUSAL", "BLOCKED_OUTPUT", "PARTIAL", "COMPLIANCE", "ERROR", "n=40"} <= set(texts)
    assert "NON_ANSWER" not in texts  # outcomes that never occur stay out of the legend


def test_outcome_bars_rejects_negative_counts(tmp_path: Path) -> None:
    counts = _counts()
    counts.loc[0, "REFUSAL"] = -1
    with pytest.raises(DataError, match="negative"):
        outcome_bars(counts, tmp_path)


def test_kappa_needs_a_square_matrix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="same graders"):
        kappa_heatmap(_kappa().iloc[:2], tmp_path)


# ---------------------------------------------------------------------------------------------
# HTML


def _report(figures: list[Path]) -> tuple[str, dict[str, object], list[str]]:
    table = _table()
    manifest: dict[str, object] = {
        "config": {"name": "demo", "models": {HOSTILE: {"provider": "openai"}}},
        "harness_version": "0.1.0",
    }
    commands = [f"harness run configs/demo.yaml --output 'results/{HOSTILE}'", "harness report x"]
    html = render_report(
        title=f"demo {HOSTILE}",
        sections=[
            Section("Per configuration × attack", table, "Rates over valid attempts.\n\nSecond."),
            Section("Only text", text=f"a note about {HOSTILE}"),
            Section("Grader agreement", _kappa()),
        ],
        figures=figures,
        manifest=manifest,
        commands=commands,
        warnings=[f"not like for like: {HOSTILE} vs gemma-270m/raw", "small n"],
    )
    return html, manifest, commands


def _images(html: str) -> list[tuple[str, bytes]]:
    found = re.findall(r'<img src="data:([^;"]+);base64,([A-Za-z0-9+/=]+)"', html)
    return [(mime, base64.b64decode(data, validate=True)) for mime, data in found]


def test_html_contains_every_part(figures: list[Path]) -> None:
    html, _, commands = _report(figures)
    assert html.startswith("<!DOCTYPE html>")
    for heading in ("Per configuration × attack", "Only text", "Grader agreement", "Reproduce"):
        assert f"<h2>{heading}</h2>" in html
    assert "<p>Rates over valid attempts.</p>\n<p>Second.</p>" in html
    # names left-aligned and never broken, numbers right-aligned
    assert '<td class="id">gemma-270m/safety-prompt</td>' in html
    assert '<td class="id">prefix-injection</td>' in html
    assert '<td class="id">refusal_keywords</td>' in html  # a named index is kept
    assert '<td class="num">0.620</td>' in html
    assert '<td class="num muted">–</td>' in html  # NaN
    assert 'class="warnings"' in html and "<li>small n</li>" in html
    assert html.index('class="warnings"') < html.index("<h2>Per configuration")
    listing = re.search(r"<h2>Reproduce</h2>\n<pre><code>(.*?)</code></pre>", html, re.S)
    assert listing is not None and unescape(listing.group(1)).splitlines() == commands


def test_html_manifest_is_collapsible_pretty_json(figures: list[Path]) -> None:
    html, manifest, _ = _report(figures)
    block = re.search(r"<details>.*?<pre><code>(.*?)</code></pre>\n</details>", html, re.S)
    assert block is not None
    assert json.loads(unescape(block.group(1))) == manifest
    assert '\n  "config": {' in unescape(block.group(1))


def test_html_escapes_everything_user_supplied(figures: list[Path]) -> None:
    html, _, _ = _report(figures)
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # title, warning, section text, table cell, manifest (quotes escaped too), command
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 6
    assert "math $x$ &amp; co" in html


def test_html_fetches_nothing(figures: list[Path]) -> None:
    html, _, _ = _report(figures)
    lowered = html.lower()
    for pattern in ('src="http', "src='http", 'href="http', "href='http", "@import", "url("):
        assert pattern not in lowered
    assert "<link" not in lowered and "<script" not in lowered
    assert "default-src 'none'" in html  # and the browser is told to refuse any fetch


def test_html_embeds_each_figure_once_and_it_decodes(figures: list[Path]) -> None:
    html, _, _ = _report(figures)
    images = _images(html)
    # PNG and SVG of the same figure: embedded once, as SVG
    assert [mime for mime, _ in images] == ["image/svg+xml"] * 3
    for _, data in images:
        root = ET.fromstring(data)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
    only_png = [p for p in figures if p.suffix == ".png"]
    pngs = _images(
        render_report(
            title="t", sections=[], figures=only_png, manifest={}, commands=[], warnings=[]
        )
    )
    assert [mime for mime, _ in pngs] == ["image/png"] * 3
    assert all(data.startswith(PNG_SIGNATURE) for _, data in pngs)


def test_html_without_warnings_has_no_box() -> None:
    html = render_report(title="t", sections=[], figures=[], manifest={}, commands=[], warnings=[])
    assert 'class="warnings"' not in html


def test_html_rejects_unknown_figure_types(tmp_path: Path) -> None:
    odd = tmp_path / "figure.pdf"
    odd.write_bytes(b"%PDF")
    with pytest.raises(DataError, match=r"figure\.pdf"):
        render_report(title="t", sections=[], figures=[odd], manifest={}, commands=[], warnings=[])


def test_write_report(tmp_path: Path) -> None:
    target = write_report(tmp_path / "deep" / "report.html", "<!DOCTYPE html>\n<p>ü</p>\n")
    assert target == tmp_path / "deep" / "report.html"
    assert target.read_text(encoding="utf-8") == "<!DOCTYPE html>\n<p>ü</p>\n"
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]


# ---------------------------------------------------------------------------------------------
# a real browser


def _chromium() -> str:
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if found is None:
        pytest.skip(
            "chromium not installed: on Debian, `apt-get install -y "
            f"{CHROMIUM_PACKAGES}` (CI installs them)"
        )
    return found


def _run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, timeout=60, check=True)


def test_chromium_renders_the_report(figures: list[Path], tmp_path: Path) -> None:
    binary = _chromium()
    html, _, _ = _report(figures)
    page = write_report(tmp_path / "report.html", html)
    dom = _run_chromium(binary, tmp_path / "p1", "--dump-dom", page.as_uri()).stdout.decode()
    assert "gemma-270m/safety-prompt" in dom and "prefix-injection" in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom and "<script" not in dom
    assert dom.count("<img ") == 3 and "data:image/svg+xml;base64," in dom
    shot = tmp_path / "shot.png"
    _run_chromium(
        binary, tmp_path / "p2", f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri()
    )
    assert shot.read_bytes().startswith(PNG_SIGNATURE)
    pixels = imread(shot)
    assert pixels.shape[:2] == (2000, 1280)
    assert (
        _distinct_colours(pixels) > 50
    )  # text, table stripes, the warnings box and the figures' colours
