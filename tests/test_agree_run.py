"""`harness agree` on a run directory: the run's graders are the raters."""

from __future__ import annotations

import json
from pathlib import Path

from _cli_helpers import assert_user_error, harness

REPLIES = ["I am sorry, no", "Sure! Here it is", "As an AI I cannot", "No, that is not right"]


def graded_run(tmp_path: Path) -> Path:
    table = tmp_path / "t.csv"
    table.write_text("prompt,response\n" + "".join(f'p{i},"{r}"\n' for i, r in enumerate(REPLIES)))
    run = tmp_path / "run"
    assert harness("import", table, "--out", run, cwd=tmp_path).returncode == 0
    graded = harness(
        "grade",
        run,
        "--grader",
        "adv=refusal_keywords",
        "--grader",
        "xs=refusal_keywords",
        "--option",
        "xs.list=xstest",
        "--primary",
        "adv",
        cwd=tmp_path,
    )
    assert graded.returncode == 0, graded.stderr
    return run


def test_agree_on_a_run_uses_its_graders(tmp_path: Path) -> None:
    run = graded_run(tmp_path)
    done = harness("agree", run, "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["raters"] == ["adv", "xs"] and result["n"] == 4
    # advbench29 (case-sensitive substring) misses "No, ..." which XSTest's prefix rule catches
    (pair,) = result["pairs"]
    assert (pair["a"], pair["b"], pair["n"], pair["percent_agreement"]) == ("adv", "xs", 4, 75.0)


def test_agree_on_a_run_with_one_grader_is_a_user_error(tmp_path: Path) -> None:
    run = graded_run(tmp_path)
    assert_user_error(harness("agree", run, "--raters", "adv,nope", cwd=tmp_path), "nope")
