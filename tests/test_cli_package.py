"""The command line as a package: `python -m harness.cli` runs, every command is registered from
its own module, and `--help` loads none of the libraries the commands import when they run."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from _cli_helpers import cli_env

from harness.reporting import agreement_json, agreement_report, run_agreement_lines
from harness.stats import AgreementSummary, GroupedAgreement, agreement_summary

COMMANDS = ["version", "validate", "run", "report", "export", "import", "grade", "merge"]
COMMANDS += ["annotate", "agree", "list"]
# what the commands import when they run; none of it is needed to list them
HEAVY = ["pandas", "numpy", "scipy", "aiohttp", "httpx", "pydantic", "yaml", "asyncio"]
HEAVY += ["harness.config", "harness.runner", "harness.reporting._analysis", "harness.stats"]


def _python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=cli_env(tmp_path),
        timeout=120,
    )


def test_python_m_harness_cli_lists_every_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=cli_env(tmp_path),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    listed = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("│ ")]
    assert [c for c in listed if c in COMMANDS] == COMMANDS


def test_help_imports_no_command_library(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from harness.cli import main\n"
        "sys.argv = ['harness', '--help']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    result = _python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_each_command_module_registers_one_command(tmp_path: Path) -> None:
    code = (
        "import importlib, json\n"
        "from harness.cli import app\n"
        "print(json.dumps({c.name or c.callback.__name__: c.callback.__module__ "
        "for c in app.registered_commands}))\n"
    )
    result = _python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    homes = json.loads(result.stdout)
    assert set(homes) == set(COMMANDS) - {"list"}
    # one module per command, none of them the package itself
    assert len(set(homes.values())) == len(homes)
    assert all(home.startswith("harness.cli._") for home in homes.values())


FRAME = pd.DataFrame(
    {
        "a": ["COMPLIANCE", "REFUSAL", "REFUSAL", "UNPARSEABLE", "COMPLIANCE", "REFUSAL"],
        "b": ["COMPLIANCE", "REFUSAL", "COMPLIANCE", "REFUSAL", "COMPLIANCE", None],
        "group": ["x", "x", "y", "y", "x", "y"],
    }
)


def test_agreement_summary_is_typed_and_its_json_is_the_report() -> None:
    summary = agreement_summary(FRAME, ["a", "b"], collapse="binary_success", n_boot=20)
    assert isinstance(summary, AgreementSummary)
    assert summary.policy.undecidable == {"a": 1, "b": 0}
    assert summary.pairs[0].n == 4 and summary.vs_reference is None
    assert agreement_json(summary) == agreement_report(
        FRAME, ["a", "b"], collapse="binary_success", n_boot=20
    )
    grouped = agreement_summary(FRAME, ["a", "b"], n_boot=0, group_by="group")
    assert isinstance(grouped, GroupedAgreement)
    assert sorted(grouped.groups) == ["x", "y"]
    assert math.isnan(grouped.overall.krippendorff_alpha_ci[0])  # no resample drawn


@pytest.mark.parametrize("n_boot", [0, 50])
def test_run_agreement_lines_show_undefined_statistics_as_a_dash(
    tmp_path: Path, n_boot: int
) -> None:
    same = pd.DataFrame({"a": ["REFUSAL"] * 3, "b": ["REFUSAL"] * 3})
    lines = run_agreement_lines(same, ["a", "b"], tmp_path, n_boot=n_boot)
    assert "Krippendorff's alpha – [–, –]" in lines[0]
    assert lines[-1].endswith(
        f"harness agree {tmp_path} --collapse binary_success --group-by configuration"
    )
