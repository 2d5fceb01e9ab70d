"""One cost formula (`PriceSpec.cost`), used alike by the budget, the resumed budget, the report's
cells and its adaptive-attack table. Input and output prices differ a hundredfold here and the
token counts differ too, so a formula with the two prices swapped anywhere fails a test."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import pytest
from test_store_reads import STAMP, attempt, grade

from harness.config import PriceSpec
from harness.core import Manifest, RequestRecord, write_manifest
from harness.providers import Reply, Usage
from harness.reporting import analyse_run
from harness.reporting._adaptive import adaptive_table
from harness.runner import Budget
from harness.runner._budget import budget_from_store
from harness.store import RunStore

MILLION = 1_000_000
PRICES = {"m": {"input": 1.0, "output": 100.0}}  # USD per million tokens
# 3M prompt tokens and 2M completion tokens: 3 * 1 + 2 * 100 = 203 (swapped: 3 * 100 + 2 = 302)
PROMPT, COMPLETION, COST = 3 * MILLION, 2 * MILLION, 203.0


def test_the_formula_prices_prompt_tokens_as_input_and_completions_as_output() -> None:
    assert PriceSpec.model_validate(PRICES["m"]).cost(PROMPT, COMPLETION) == pytest.approx(COST)


def test_a_budget_charges_each_reply_by_the_formula() -> None:
    budget = Budget(None, {"m": PriceSpec.model_validate(PRICES["m"])}, asyncio.Event())
    budget.charge("m", Reply("ok", "stop", Usage(PROMPT, COMPLETION)), tries=1)
    assert budget.cost == pytest.approx(COST)
    assert budget.drain()[0].cost == pytest.approx(COST)


def _request(**fields: object) -> RequestRecord:
    base = RequestRecord("m", "target", "m/raw", "none", None, 1, PROMPT, COMPLETION, None, STAMP)
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


def test_a_resumed_budget_prices_what_the_store_spent_by_the_formula(tmp_path: Path) -> None:
    with RunStore(tmp_path, create=True) as store:
        store.write_batch([], [], [_request()])
        prices = {"m": PriceSpec.model_validate(PRICES["m"])}
        budget = budget_from_store(None, prices, store, asyncio.Event())
    assert budget.cost == pytest.approx(COST)


def test_the_report_prices_a_cell_by_the_formula(tmp_path: Path) -> None:
    record = attempt("m/raw", "a")
    with RunStore(tmp_path, create=True) as store:
        store.write_batch([record], [grade(record, "kw", "REFUSAL")], [_request()])
    write_manifest(
        tmp_path,
        Manifest(
            run="costs",
            kind="experiment",
            config={"prices": PRICES},
            configurations=[{"name": "m/raw", "model": "m", "deployment": "raw"}],
            attacks=["none"],
            graders=[{"name": "refusal_keywords", "rater": "kw"}],
            primary_grader="kw",
        ),
    )
    cells = analyse_run(tmp_path, n_boot=20).cells
    assert cells["cost"].tolist() == pytest.approx([COST])
    assert cells["cost_target"].tolist() == pytest.approx([COST])


def test_the_adaptive_table_prices_target_attacker_and_judge_by_the_formula(
    tmp_path: Path,
) -> None:
    trace = {
        "method": "pair",
        "attacker": "m",
        "judge": "m",
        "tokens": {"attacker": {"prompt": PROMPT, "completion": 0}, "judge": {}},
        "success": False,
        "queries": {"target": 1, "attacker": 1, "judge": 1},
    }
    record = dataclasses.replace(
        attempt("m/raw", "a", attack="pair"),
        prompt_tokens=0,
        completion_tokens=COMPLETION,
        attack_trace=json.dumps(trace),
    )
    with RunStore(tmp_path, create=True) as store:
        store.write_batch([record])
        table = adaptive_table(store, PRICES)
    assert table["cost"].tolist() == pytest.approx([COST])
