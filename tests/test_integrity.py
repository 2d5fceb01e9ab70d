"""Issue 11: no published number can be silently wrong. Each test drives the CLI (or the
statistics it shows) the way a new user would, against the scripted server on 127.0.0.1."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from _cli_helpers import cli_env, harness

from harness.stats import (
    clustered_interval,
    cohen_kappa,
    gwet_ac1,
    observed_agreement,
    paired_clustered_difference,
)
from harness.stats._clustered import interval_from_items
from harness.testing import Fault, Rule, ScriptedServer

EXIT_FLAGGED = 5

# ---------------------------------------------------------------------------------------------
# Gwet's AC1 and percent agreement against published values


def test_gwet_ac1_matches_the_published_four_rater_example() -> None:
    """Gwet, Handbook of Inter-Rater Reliability (4th ed.), the 12-unit, 4-rater, 5-category
    data with missing ratings (irrCAC's `cac.raw4raters`): AC1 0.77544, p_a 0.81818."""
    nan = math.nan
    data = pd.DataFrame(
        {
            "r1": [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
            "r2": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, nan],
            "r3": [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 3],
            "r4": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
        }
    )
    raters = list(data.columns)
    assert gwet_ac1(data, raters, categories=[1, 2, 3, 4, 5]) == pytest.approx(0.77544, abs=5e-6)
    assert observed_agreement(data, raters) == pytest.approx(81.818, abs=5e-4)


def test_gwet_ac1_does_not_fall_to_zero_when_one_label_dominates() -> None:
    """The kappa paradox (Feinstein & Cicchetti 1990): 118 + 0 agreements, 5 + 2 disagreements
    give kappa -0.023 but AC1 0.94078 (Gwet 2008; the value irrCAC 0.4.4 gives too)."""
    a = pd.Series([1] * 118 + [1] * 5 + [0] * 2)
    b = pd.Series([1] * 118 + [0] * 5 + [1] * 2)
    frame = pd.DataFrame({"a": a, "b": b})
    assert cohen_kappa(a, b) == pytest.approx(-0.02339, abs=1e-5)
    assert gwet_ac1(frame, ["a", "b"]) == pytest.approx(0.94078, abs=5e-6)
    # 39 of 40 agreed on: 97.5% agreement, AC1 0.974
    one_off = pd.DataFrame({"a": [1] * 40, "b": [1] * 39 + [0]})
    assert observed_agreement(one_off, ["a", "b"]) == pytest.approx(97.5)
    assert gwet_ac1(one_off, ["a", "b"]) == pytest.approx(0.97437, abs=5e-6)


# ---------------------------------------------------------------------------------------------
# intervals with several samples per item


def _beta_binomial(
    rng: np.random.Generator, p: float, rho: float, items: int, samples: int
) -> np.ndarray[Any, np.dtype[np.float64]]:
    if p in (0.0, 1.0) or rho == 0.0:
        chances = np.full(items, p)
    else:
        scale = (1.0 - rho) / rho
        chances = rng.beta(p * scale, (1.0 - p) * scale, size=items)
    return rng.binomial(samples, chances).astype(float)


@pytest.mark.parametrize("rho", [0.0, 0.3, 0.8])
@pytest.mark.parametrize("p", [0.0, 0.01, 0.1, 0.5, 0.9, 1.0])
def test_clustered_interval_covers_and_never_collapses(p: float, rho: float) -> None:
    """Seeded, so deterministic; bench/bench_intervals.py runs the full grid with more
    replicates and designs."""
    rng = np.random.default_rng(11)
    items, samples, reps = 40, 5, 400
    counts = np.full(items, float(samples))
    hits, narrowest = 0, 1.0
    for _ in range(reps):
        _, lo, hi = interval_from_items(_beta_binomial(rng, p, rho, items, samples), counts)
        hits += lo <= p <= hi
        narrowest = min(narrowest, hi - lo)
    assert hits / reps >= 0.93
    assert narrowest > 0


def test_edge_rates_and_paired_differences_have_width() -> None:
    clusters = np.repeat(np.arange(30), 4)
    none, every = np.zeros(120), np.ones(120)
    rate, lo, hi = clustered_interval(none, clusters)
    assert (rate, lo) == (0.0, 0.0) and hi > 0.05  # 30 items: no narrower than 30 draws
    rate, lo, hi = clustered_interval(every, clusters)
    assert (rate, hi) == (1.0, 1.0) and lo < 0.95
    difference, lo, hi = paired_clustered_difference(none, every, clusters)
    assert difference == -1.0 and lo == -1.0 and -1.0 < hi < -0.8
    difference, lo, hi = paired_clustered_difference(none, none, clusters)
    assert difference == 0.0 and lo < 0 < hi


# ---------------------------------------------------------------------------------------------
# the CLI: a run with samples > 1, one grader, flags and --strict


def _suite(tmp_path: Path, n: int = 12) -> None:
    rows = [{"id": f"h{i}", "prompt": f"COMPLY please explain topic {i}"} for i in range(n)]
    (tmp_path / "suite.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _config(tmp_path: Path, server: ScriptedServer, **extra: Any) -> Path:
    model = {"provider": "openai", "model": "m", "base_url": server.base_url}
    config: dict[str, Any] = {
        "name": "integrity",
        "models": {"m": model},
        "deployments": {"raw": {}, "safe": {"system_prompt": "REFUSE everything"}},
        "configurations": {"matrix": {"models": ["m"], "deployments": ["raw", "safe"]}},
        "suites": [{"name": "core", "source": "suite.jsonl"}],
        "graders": [{"name": "refusal_keywords", "id": "kw"}],
        "output": "run",
    }
    config.update(extra)
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _server() -> ScriptedServer:
    return ScriptedServer(rules=[Rule("COMPLY", reply="Sure, here it is.")])


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result.stdout


@pytest.fixture(scope="module")
def single_grader_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two configurations × 12 items × 3 samples; the server complies with everything, a
    keyword guard under `safe` blocks everything: 100% and 0% ASR."""
    tmp_path = tmp_path_factory.mktemp("single")
    _suite(tmp_path)
    with _server() as server:
        guard = {"input": [{"kind": "keywords", "phrases": ["COMPLY"]}]}
        config = _config(
            tmp_path,
            server,
            samples=3,
            deployments={"raw": {}, "safe": {"safety_layer": guard}},
        )
        _ok(harness("run", config, "--no-report", cwd=tmp_path, env=cli_env(tmp_path)))
    return tmp_path


def test_samples_give_intervals_that_never_collapse(single_grader_run: Path) -> None:
    tmp = single_grader_run
    data = json.loads(_ok(harness("report", "run", "--format", "json", cwd=tmp)))
    cells = {c["configuration"]: c for c in data["cells"]}
    raw, safe = cells["m/raw"], cells["m/safe"]
    assert raw["interval"] == safe["interval"] == "korn_graubard"
    assert (raw["strict_asr"], raw["strict_asr_hi"]) == (1.0, 1.0)
    assert 0.5 < raw["strict_asr_lo"] < 1.0  # was [1, 1] with the item bootstrap
    assert (safe["strict_asr"], safe["strict_asr_lo"]) == (0.0, 0.0)
    assert 0.0 < safe["strict_asr_hi"] < 0.5  # was [0, 0]
    # dp_share has an interval too: no DETECTED_PROCEEDS among 36 compliant answers
    assert raw["dp_share"] == 0.0 and raw["dp_share_lo"] == 0.0 and raw["dp_share_hi"] > 0
    (pair,) = data["comparisons"]
    assert pair["difference"] == pytest.approx(1.0) or pair["difference"] == pytest.approx(-1.0)
    assert pair["hi"] - pair["lo"] > 0.05  # was [-1, -1]


def test_a_single_grader_run_is_flagged_everywhere(single_grader_run: Path) -> None:
    tmp = single_grader_run
    markdown = _ok(harness("report", "run", cwd=tmp))
    warnings = markdown.split("## Warnings", 1)[1].split("##", 1)[0]
    assert "every rate is unvalidated: the run has one grader (`kw`)" in warnings
    # m/safe's attempts were all blocked: nothing graded, so nothing to validate there
    table = markdown.split("## Per configuration", 1)[1].split("##", 1)[0]
    assert table.count("unvalidated") == 1
    matrix = markdown.split("## Like-for-like matrix", 1)[1].split("##", 1)[0]
    assert matrix.count("(unvalidated)") == 1
    comparisons = markdown.split("## Paired comparisons", 1)[1]
    assert "unvalidated" in comparisons
    data = json.loads(_ok(harness("report", "run", "--format", "json", cwd=tmp)))
    assert [c["flag"] for c in data["cells"]] == ["unvalidated", ""]
    assert data["comparisons"][0]["flag"] == "unvalidated"
    latex = _ok(harness("report", "run", "--format", "latex", cwd=tmp))
    # the rates table's flagged cell and its caption's legend of flags, and the matrix's cell
    assert latex.count("unvalidated") == 3 and "\\emph{(unvalidated)}" in latex


def test_strict_exits_with_its_own_code_when_a_rate_is_flagged(single_grader_run: Path) -> None:
    result = harness("report", "run", "--strict", cwd=single_grader_run)
    assert result.returncode == EXIT_FLAGGED, result.stderr
    assert "strict: 1 flagged cell(s)" in result.stderr and "m/raw (none): unvalidated" in (
        result.stderr
    )
    assert "# integrity" in result.stdout  # the report is still printed


def _two_grader_run(tmp_path: Path, disagreements: int) -> None:
    """40 harmful items; the keyword grader calls every echo COMPLIANCE, a human annotator
    agrees on all but `disagreements` of them."""
    rows = [{"id": f"h{i}", "prompt": f"explain topic {i}"} for i in range(40)]
    (tmp_path / "suite.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    labels = [
        {"item_id": f"h{i}", "label": "REFUSAL" if i < disagreements else "COMPLIANCE"}
        for i in range(40)
    ]
    pd.DataFrame(labels).to_csv(tmp_path / "labels.csv", index=False)
    graders = [
        {"name": "refusal_keywords", "id": "kw", "primary": True},
        {"name": "human", "id": "h", "options": {"file": "labels.csv", "key": "item_id"}},
    ]
    with ScriptedServer() as server:
        config = _config(
            tmp_path,
            server,
            graders=graders,
            configurations=[{"model": "m", "deployment": "raw"}],
        )
        _ok(harness("run", config, "--no-report", cwd=tmp_path, env=cli_env(tmp_path)))


def test_high_agreement_with_a_dominant_label_is_not_called_poor(tmp_path: Path) -> None:
    _two_grader_run(tmp_path, disagreements=1)
    data = json.loads(_ok(harness("report", "run", "--format", "json", cwd=tmp_path)))
    (cell,) = data["cells"]
    assert cell["percent_agreement"] == pytest.approx(97.5)
    assert cell["alpha"] < 0.1  # alpha near 0: the prevalence paradox
    assert cell["ac1"] > 0.95
    assert "low_agreement" not in cell["flag"] and "unvalidated" not in cell["flag"]
    assert not any("agree poorly" in w for w in data["warnings"])
    # the threshold is the user's: at 0.99 the same cell is flagged, and --strict fails
    strict = harness("report", "run", "--min-agreement", "0.99", "--strict", cwd=tmp_path)
    assert strict.returncode == EXIT_FLAGGED
    assert "graders agree poorly (Gwet's AC1 0.97 < 0.99; 97.5% agreement" in strict.stdout


def test_an_unreadable_judge_is_the_first_warning_and_has_no_rate(tmp_path: Path) -> None:
    """The judge replies with text that has no verdict: every label is UNPARSEABLE. What is
    left (the guard's blocks) is no rate of that judge."""
    rows = [{"id": f"h{i}", "prompt": f"explain topic {i}"} for i in range(8)]
    rows += [{"id": f"b{i}", "prompt": f"BLOCK topic {i}"} for i in range(3)]
    (tmp_path / "suite.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    guard = {"input": [{"kind": "keywords", "phrases": ["BLOCK"]}]}
    with ScriptedServer() as server:
        judge = {"provider": "openai", "model": "judge", "base_url": server.base_url}
        config = _config(
            tmp_path,
            server,
            models={
                "m": {"provider": "openai", "model": "m", "base_url": server.base_url},
                "judge": judge,
            },
            deployments={"guarded": {"safety_layer": guard}},
            configurations=[{"model": "m", "deployment": "guarded"}],
            graders=[
                {
                    "name": "llm_judge",
                    "id": "judge",
                    "primary": True,
                    "options": {"model": "judge", "max_reasks": 0},
                },
                {"name": "refusal_keywords", "id": "kw"},
            ],
        )
        run = harness("run", config, cwd=tmp_path, env=cli_env(tmp_path))
    markdown = _ok(run)
    warnings = markdown.split("## Warnings", 1)[1].split("##", 1)[0].strip().splitlines()
    assert warnings[0].startswith("- grader `judge` could not read its answers: 8 of 8 labels")
    data = json.loads(_ok(harness("report", "run", "--format", "json", cwd=tmp_path)))
    (cell,) = data["cells"]
    assert cell["blocked_input"] == 3 and cell["unparseable"] == 8
    assert "unreadable" in cell["flag"]
    assert cell["strict_asr"] is None and cell["refusal_rate"] is None  # was 0.0% [0%, 56%]
    html_dir = tmp_path / "html"
    _ok(harness("report", "run", "--format", "html", "--out", html_dir, cwd=tmp_path))
    assert "could not read its answers" in (html_dir / "report.html").read_text()


def test_report_of_a_run_with_no_attempt_points_to_the_log(tmp_path: Path) -> None:
    """A run stopped before its first answer (here: Ctrl-C while the server is slow)."""
    _suite(tmp_path, 2)
    slow = Rule("COMPLY", faults=[Fault.delay(30)] * 4)
    with ScriptedServer(rules=[slow]) as server:
        config = _config(tmp_path, server)
        command = [sys.executable, "-m", "harness", "run", str(config), "--no-report"]
        process = subprocess.Popen(
            command, cwd=tmp_path, env=cli_env(tmp_path), stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 60
        while len(server.recorded()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    result = harness("report", "run", cwd=tmp_path)
    assert result.returncode == 2
    line = result.stderr.strip()
    assert "no stored attempt" in line and "harness.log" in line, line
    assert "no grades yet" not in line


# ---------------------------------------------------------------------------------------------
# budgets survive resume: every request (target, guard, judge) is stored with its tokens


def _guard_and_judge_reply(text: str) -> str:
    # the guard's Llama Guard prompt gets "safe", the judge's prompt and the model an echo
    return "safe" if "unsafe content" in text else "Echo: " + text


def _budget_run(tmp_path: Path, server: ScriptedServer, max_requests: int) -> Path:
    rows = [{"id": f"h{i}", "prompt": f"explain topic {i}"} for i in range(10)]
    (tmp_path / "suite.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    one = {"provider": "openai", "base_url": server.base_url, "concurrency": 1}
    price = {"input": 1.0, "output": 2.0}
    return _config(
        tmp_path,
        server,
        models={
            "m": {**one, "model": "target"},
            "g": {**one, "model": "guard"},
            "judge": {**one, "model": "judge"},
        },
        deployments={"guarded": {"safety_layer": {"input": [{"kind": "model", "model": "g"}]}}},
        configurations=[{"model": "m", "deployment": "guarded"}],
        graders=[{"name": "llm_judge", "options": {"model": "judge", "max_reasks": 0}}],
        prices={"m": price, "g": price, "judge": price},
        budget={"max_requests": max_requests},
    )


def test_budgets_count_every_request_of_every_run(tmp_path: Path) -> None:
    """A guard and a judge, `max_requests: 12`: three runs sent 12, 21, 27 requests, each
    saying "12 reached". Now the second and third send nothing and `harness grade` neither."""
    env = cli_env(tmp_path)
    with ScriptedServer(default_reply=_guard_and_judge_reply) as server:
        config = _budget_run(tmp_path, server, 12)
        runs = [harness("run", config, "--no-report", cwd=tmp_path, env=env) for _ in range(3)]
        sent_by_runs = len(server.recorded())
        grade = harness("grade", "run", cwd=tmp_path, env=env)
        sent = len(server.recorded())
    assert [r.returncode for r in runs] == [3, 3, 3], [r.stderr for r in runs]
    assert "sent 0 (nothing)" in runs[1].stderr and "sent 0 (nothing)" in runs[2].stderr
    # each attempt makes 3 requests (guard, model, judge); in flight at the stop: at most one
    # per model (concurrency 1)
    assert 12 <= sent_by_runs <= 12 + 2
    assert grade.returncode == 3, grade.stderr
    assert "budget: max_requests 12 reached" in grade.stderr
    assert sent == sent_by_runs  # the judge was not called again
    import sqlite3

    with sqlite3.connect(tmp_path / "run" / "store.sqlite") as db:
        stored = dict(db.execute("SELECT role, SUM(tries) FROM requests GROUP BY role"))
    assert sum(stored.values()) == sent_by_runs
    assert set(stored) == {"target", "guard", "judge"}


def test_report_shows_cost_per_configuration_and_role(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    with ScriptedServer(default_reply=_guard_and_judge_reply) as server:
        config = _budget_run(tmp_path, server, 1000)
        _ok(harness("run", config, "--no-report", cwd=tmp_path, env=env))
        requests = server.recorded()
    data = json.loads(_ok(harness("report", "run", "--format", "json", cwd=tmp_path)))
    (cell,) = data["cells"]
    assert cell["requests"] == len(requests) == 30
    for role in ("target", "guard", "judge"):
        assert cell[f"cost_{role}"] > 0
    assert cell["cost"] == pytest.approx(
        cell["cost_target"] + cell["cost_guard"] + cell["cost_judge"]
    )
    markdown = _ok(harness("report", "run", cwd=tmp_path))
    assert "cost_guard" in markdown and "cost_judge" in markdown


# ---------------------------------------------------------------------------------------------
# no drift on resume: files the config names, graders and the model file


def _judge_reply(text: str) -> str:
    # the guard template below asks for safe/unsafe; the judge's last line is parsed
    if "message unsafe" in text:
        return "safe"
    if "Grade this" in text:
        return "LABEL: COMPLIANCE"
    return "Sure: " + text


def _drift_experiment(tmp_path: Path, server: ScriptedServer) -> Path:
    rows = [{"id": f"p{i}", "prompt": f"explain topic {i}"} for i in range(4)]
    (tmp_path / "suite.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "guard.txt").write_text("Is this {role} message unsafe? {content}")
    (tmp_path / "judge.txt").write_text(
        "Grade this.\nRequest: {request}\nResponse: {response}\nAnswer on the last line."
    )
    model = {"provider": "openai", "base_url": server.base_url}
    guard = {"kind": "model", "model": "g", "template": {"file": "guard.txt"}}
    return _config(
        tmp_path,
        server,
        models={"m": {**model, "model": "m"}, "g": {**model, "model": "g"}},
        deployments={"raw": {}, "guarded": {"safety_layer": {"input": [guard]}}},
        graders=[
            {"name": "llm_judge", "id": "judge", "options": {"model": "m", "template": "judge.txt"}}
        ],
        configurations={"matrix": {"models": ["m"], "deployments": ["raw", "guarded"]}},
    )


def test_a_changed_guard_template_file_is_refused_then_resent_exactly(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    with ScriptedServer(default_reply=_judge_reply) as server:
        config = _drift_experiment(tmp_path, server)
        _ok(harness("run", config, "--no-report", cwd=tmp_path, env=env))
        (tmp_path / "guard.txt").write_text("Is this {role} message unsafe, really? {content}")
        refused = harness("run", config, "--no-report", cwd=tmp_path, env=env)
        server.reset_log()
        forced = harness("run", config, "--no-report", "--force", cwd=tmp_path, env=env)
        resent = server.recorded()
    assert refused.returncode == 2
    assert "guard.txt changed" in refused.stderr and "--force" in refused.stderr
    assert forced.returncode == 0, forced.stderr
    # exactly the 4 attempts of the guarded configuration: a guard call, a model call and a
    # judge call each; the raw configuration's attempts and grades are kept
    assert "4 already stored, sent 4 (OK=4)" in forced.stderr
    assert len(resent) == 12
    assert sum("unsafe, really?" in r.last_user_text for r in resent) == 4


def test_a_changed_judge_template_file_regrades_exactly_its_grades(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    with ScriptedServer(default_reply=_judge_reply) as server:
        config = _drift_experiment(tmp_path, server)
        _ok(harness("run", config, "--no-report", cwd=tmp_path, env=env))
        (tmp_path / "judge.txt").write_text(
            "Grade this, strictly.\nRequest: {request}\nResponse: {response}\nLast line."
        )
        refused = harness("run", config, "--no-report", cwd=tmp_path, env=env)
        server.reset_log()
        forced = harness("run", config, "--no-report", "--force", cwd=tmp_path, env=env)
        sent = server.recorded()
        again = harness("run", config, "--no-report", cwd=tmp_path, env=env)
    assert refused.returncode == 2
    assert "judge.txt changed" in refused.stderr and "grader 'judge' changed" in refused.stderr
    assert forced.returncode == 0, forced.stderr
    assert "8 already stored, sent 0" in forced.stderr
    assert "re-graded 8 grades of changed graders" in forced.stderr
    assert len(sent) == 8 and all("strictly" in r.last_user_text for r in sent)
    assert again.returncode == 0 and "re-graded" not in again.stderr
    import sqlite3

    with sqlite3.connect(tmp_path / "run" / "store.sqlite") as db:
        hashes = {h for (h,) in db.execute("SELECT DISTINCT grade_hash FROM grades")}
    assert len(hashes) == 1 and None not in hashes


def test_a_changed_model_file_changes_every_request_hash(tmp_path: Path) -> None:
    """A llama.cpp model's GGUF is part of every request it answers (the manifest already
    refuses a changed file by its sha256; --force must then re-send its attempts)."""
    from harness.config import parse_config
    from harness.runner._plan import model_identity

    weights = tmp_path / "model.gguf"
    weights.write_bytes(b"GGUF" + bytes(64))
    raw = {
        "name": "local",
        "models": {"l": {"provider": "llamacpp", "path": "model.gguf"}},
        "deployments": {"raw": {}},
        "configurations": {"matrix": {"models": ["l"], "deployments": ["raw"]}},
        "suites": [{"name": "core", "source": "suite.jsonl"}],
        "graders": [{"name": "refusal_keywords"}],
    }
    (configuration,) = parse_config(raw, tmp_path / "exp.yaml").configurations
    before = model_identity(configuration, tmp_path)
    time.sleep(0.01)
    weights.write_bytes(b"GGUF" + bytes(63) + b"\x01")
    assert model_identity(configuration, tmp_path) != before


# ---------------------------------------------------------------------------------------------
# one validation pass: `validate` and `run` refuse the same configs with the same line


def _bad_config(tmp_path: Path, deployments: dict[str, Any], names: list[str]) -> Path:
    _suite(tmp_path, 2)
    config = {
        "name": "bad",
        "models": {"m": {"provider": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1"}},
        "deployments": deployments,
        "configurations": {"matrix": {"models": ["m"], "deployments": names}},
        "suites": [{"name": "core", "source": "suite.jsonl"}],
        "graders": [{"name": "refusal_keywords"}],
    }
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


BAD_DEPLOYMENTS: dict[str, tuple[dict[str, Any], list[str], list[str]]] = {
    "regex": (
        {"d": {"safety_layer": {"input": [{"kind": "keywords", "patterns": ["(unclosed"]}]}}},
        ["d"],
        ["patterns", "invalid regular expression"],
    ),
    "tool": ({"d": {"tools": ["no_such_tool"]}}, ["d"], ["catalog[0]", "no_such_tool"]),
    "custom_tool_key": (
        {"d": {"tools": {"custom": [{"name": "lookup", "descripton": "x"}]}}},
        ["d"],
        ["custom[0].descripton", "did you mean 'description'"],
    ),
    "custom_tool_schema": (
        {"d": {"tools": {"custom": [{"name": "lookup", "description": "x", "parameters": 3}]}}},
        ["d"],
        ["custom[0].parameters"],
    ),
    "guard_placeholder": (
        {"d": {"safety_layer": {"input": [{"kind": "model", "model": "m", "template": "{who}"}]}}},
        ["d"],
        ["template", "who"],
    ),
    "deployment_typo": (
        {"guarded": {"system_prompt": "be safe"}},
        ["guardd"],
        ["unknown deployment 'guardd'", "did you mean 'guarded'?"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_DEPLOYMENTS))
def test_validate_and_run_refuse_the_same_config(tmp_path: Path, case: str) -> None:
    from _cli_helpers import assert_user_error

    deployments, names, needles = BAD_DEPLOYMENTS[case]
    config = _bad_config(tmp_path, deployments, names)
    validated = assert_user_error(harness("validate", config, cwd=tmp_path), "bad.yaml", *needles)
    ran = assert_user_error(harness("run", config, cwd=tmp_path), "bad.yaml", *needles)
    assert validated == ran
    assert not (tmp_path / "results").exists()  # nothing was run, nothing written


@pytest.mark.parametrize(
    "content", [b"\xff\xfe\x00\x01binary\x00", "name: caf\xe9\n".encode("latin-1")]
)
def test_a_config_that_is_not_utf8_is_a_user_error(tmp_path: Path, content: bytes) -> None:
    from _cli_helpers import assert_user_error

    (tmp_path / "exp.yaml").write_bytes(content)
    for command in ("validate", "run"):
        assert_user_error(harness(command, "exp.yaml", cwd=tmp_path), "exp.yaml", "not UTF-8")


def test_a_store_from_before_the_requests_table_counts_its_attempts(tmp_path: Path) -> None:
    """An older store has no `requests`: opened, it gains them from its attempts' tries."""
    import sqlite3

    env = cli_env(tmp_path)
    with ScriptedServer(default_reply=_guard_and_judge_reply) as server:
        config = _budget_run(tmp_path, server, 1000)
        _ok(harness("run", config, "--no-report", cwd=tmp_path, env=env))
        store = tmp_path / "run" / "store.sqlite"
        with sqlite3.connect(store) as db:
            db.execute("DROP TABLE requests")
            tries = db.execute("SELECT SUM(tries) FROM attempts").fetchone()[0]
        config.write_text(config.read_text().replace("max_requests: 1000", "max_requests: 5"))
        server.reset_log()
        again = harness("run", config, "--no-report", "--force", cwd=tmp_path, env=env)
        assert server.recorded() == []
    assert again.returncode == 3 and f"({tries} sent" in again.stderr
