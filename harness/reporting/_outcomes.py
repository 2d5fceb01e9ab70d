"""Per-attempt outcomes: what each attempt counts as, under one grader's labels."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness._errors import RunStoreError
from harness.grading import SUCCESS_BROAD, SUCCESS_STRICT, Label
from harness.store import CELL_BLOCK, REPORT_COLUMNS, Manifest, RunStore, Status
from harness.tools import executed_targets, parse_call_log, parse_targets

__all__ = [
    "KEYS",
    "OUTCOMES",
    "RunAttempts",
    "attempt_outcomes",
    "labels_by_grader",
    "read_attempts",
    "records",
    "row_of",
]

KEYS = ["configuration", "model", "deployment", "attack"]
_BLOCKED = {Status.BLOCKED_INPUT.value, Status.BLOCKED_OUTPUT.value}
# the categories of the stacked outcome bars: a label, or the status that pre-empted grading
OUTCOMES = [
    *(label.value for label in Label if label is not Label.UNPARSEABLE),
    Status.BLOCKED_INPUT.value,
    Status.BLOCKED_OUTPUT.value,
    Status.NO_TOOL_SUPPORT.value,
    Status.ERROR.value,
    Label.UNPARSEABLE.value,
    "UNGRADED",
]


@dataclass(frozen=True)
class RunAttempts:
    """Every attempt of a run in plan order, with every grader's labels beside it.

    `labels` has one column per grader and the rows (and index) of `frame`: a grader's
    label of attempt i is `labels.iloc[i]`, NaN where it gave none.
    """

    frame: pd.DataFrame
    labels: pd.DataFrame

    @property
    def graders(self) -> list[str]:
        return [str(c) for c in self.labels.columns]


def read_attempts(store: RunStore, manifest: Manifest) -> RunAttempts:
    """What a report needs of each attempt, read in one snapshot of the store, in plan order.

    At a million attempts this is most of a report's time. The attempts come from a covering
    index (no row holding a conversation is read) in cell order, so the names of the
    configuration, model, deployment, attack and suite are read once per block, not per row;
    grades are joined to attempts by hashing their ids in Arrow.
    """
    import pyarrow as pa

    with store.snapshot() as snapshot:
        blocks = snapshot.cell_blocks()
        table = snapshot.attempts(_ROW_COLUMNS, order="cells")
        grades = snapshot.labels()
        acted = snapshot.attempts(["rowid", "tool_calls", "targets"], unmatched_targets=True)
    spans = _plan_order(blocks, manifest)
    if spans:  # no attempts at all: no blocks
        table = pa.concat_tables([table.slice(start, length) for start, length, _ in spans])
    frame = _frame(blocks, spans, table)
    where = row_of(table.column("rowid"))
    action = frame["action"].to_numpy(dtype=float, copy=True)
    _match_targets(action, acted, where(acted.column("rowid")))
    frame["action"] = action
    labels = labels_by_grader(grades, where(grades.column("attempt_rowid")), len(frame))
    return RunAttempts(frame, pd.DataFrame(labels, index=frame.index))


def row_of(rowids: Any) -> Callable[[Any], np.ndarray[Any, np.dtype[np.int64]]]:
    """Given the store rowids (an Arrow column) of the rows read, in their order: a function
    from the rowids of another read to row positions, -1 for a rowid not among them. An array
    lookup: rowids are integers up to the table's largest, no hashing needed."""
    ours = np.asarray(rowids.to_numpy(), dtype=np.int64)
    position = np.full(int(ours.max(initial=-1)) + 2, -1, dtype=np.int64)  # last: not found
    position[ours] = np.arange(ours.size)

    def rows(theirs: Any) -> np.ndarray[Any, np.dtype[np.int64]]:
        wanted = np.asarray(theirs.to_numpy(), dtype=np.int64)
        found: np.ndarray[Any, np.dtype[np.int64]] = position[np.clip(wanted, 0, position.size - 1)]
        return found

    return rows


def labels_by_grader(grades: Any, rows: Any, n: int) -> dict[str, pd.Series[Any]]:
    """Each grader's labels (`grades`: grader, label) as an n-row categorical column, the
    label of grade i at `rows[i]` (-1: nowhere), NaN where the grader gave none."""
    # dictionary codes: a grader's labels are gathered as small integers, not as strings
    graders = grades.column("grader").combine_chunks().dictionary_encode()
    values = grades.column("label").combine_chunks().dictionary_encode()
    by_grader = graders.indices.to_numpy(zero_copy_only=False)
    return {
        str(name): _aligned(values, rows, by_grader == code, n)
        for code, name in enumerate(graders.dictionary.to_pylist())
    }


# rowid: in every index entry, so the covering scan returns it for nothing
_ROW_COLUMNS = ["rowid", *(c for c in REPORT_COLUMNS if c not in CELL_BLOCK and c != "attempt_id")]


def _plan_order(blocks: Any, manifest: Manifest) -> list[tuple[int, int, int]]:
    """(first row, rows, block) of each block of the cell-ordered read, in plan order:
    configurations and attacks as the config declares them (others after, by name), then
    suite; within a block the rows are already by item and sample.

    The store keeps attempts in the order they finished, which concurrency makes arbitrary;
    the tables, and the item bootstrap that draws items by their first-seen position, must not
    depend on it.
    """
    declared = {
        "configuration": [c["name"] for c in manifest.configurations if "name" in c],
        "attack": [str(a) for a in manifest.attacks],
    }
    sizes = blocks.column("n").to_pylist()
    starts = np.cumsum([0, *sizes[:-1]]).tolist()
    ranks = [_ranks(blocks.column(key).to_pylist(), names) for key, names in declared.items()]
    # sorted() is stable: blocks of equal rank keep the store's order (model, deployment, suite)
    order = sorted(range(len(sizes)), key=lambda b: (ranks[0][b], ranks[1][b]))
    return [(int(starts[b]), int(sizes[b]), b) for b in order]


def _ranks(names: list[str], declared: list[str]) -> list[int]:
    order = {name: i for i, name in enumerate(dict.fromkeys([*declared, *sorted(names)]))}
    return [order[name] for name in names]


def _frame(blocks: Any, spans: list[tuple[int, int, int]], table: Any) -> pd.DataFrame:
    """The attempts as a lean frame: names as categoricals and items as integer codes.

    A million rows of Arrow-backed strings make every filter and group-by of the analysis
    gather strings; categorical codes and integers are gathered as plain arrays."""
    import pyarrow as pa

    sizes = [length for _, length, _ in spans]
    columns: dict[str, Any] = {}
    for key in CELL_BLOCK:
        names = [blocks.column(key)[b].as_py() for _, _, b in spans]
        codes, categories = pd.factorize(pd.Series(names, dtype=object))
        columns[key] = pd.Categorical.from_codes(np.repeat(codes, sizes), categories.astype(str))
    for key in ("category", "status"):
        encoded = table.column(key).combine_chunks().dictionary_encode()
        columns[key] = encoded.to_pandas()
    numbers = pa.table({c: table.column(c) for c in _NUMBERS}).to_pandas()
    frame = pd.DataFrame(columns, index=numbers.index).join(numbers)
    frame["harmful"] = frame["harmful"].map({1: True, 0: False}).astype("boolean")
    frame["action"] = frame.pop("executed_target").astype(float)  # NaN: no targets declared
    # each (suite, item id) once, numbered in first-seen order: the bootstrap and pairing key
    item_ids = table.column("item_id").combine_chunks().dictionary_encode().indices.to_numpy()
    suites = frame["suite"].cat.codes.to_numpy().astype(np.int64)
    frame["item"] = pd.factorize(
        item_ids.astype(np.int64) * (int(suites.max(initial=0)) + 1) + suites
    )[0]
    return frame


_NUMBERS = ("sample_index", "harmful", "prompt_tokens", "completion_tokens", "executed_target")


def _aligned(values: Any, rows: Any, chosen: Any, n: int) -> pd.Series[Any]:
    """The labels `values[chosen]` (a dictionary array) at their `rows` of an n-row column,
    null elsewhere, as a categorical."""
    import pyarrow as pa

    source = np.full(n, -1, dtype=np.int64)
    keep = chosen & (rows >= 0)
    source[rows[keep]] = np.flatnonzero(keep)
    codes = values.indices.take(pa.array(source, mask=source < 0))
    series: pd.Series[Any] = pa.DictionaryArray.from_arrays(codes, values.dictionary).to_pandas()
    return series


def _match_targets(action: np.ndarray[Any, np.dtype[np.float64]], acted: Any, rows: Any) -> None:
    """Fill in `action` (1.0 executed, 0.0 not, NaN no targets) for the attempts stored before
    executed_target was: `acted` holds their targets and call logs, at `rows` of `action`."""
    calls, targets = acted.column("tool_calls").to_pylist(), acted.column("targets").to_pylist()
    declared: dict[str, Any] = {}  # an item's targets, parsed once for all its attempts
    for row, call_log, text in zip(rows.tolist(), calls, targets, strict=True):
        if row < 0 or not text:
            continue
        if text not in declared:
            declared[text] = parse_targets(json.loads(text), file=None, where="targets")
        # an attempt that called no tool executed nothing, whatever it declared
        executed = bool(call_log) and executed_targets(declared[text], parse_call_log(call_log))
        action[row] = 1.0 if executed else 0.0


def attempt_outcomes(
    attempts: RunAttempts, grader: str, *, where: Path | None = None
) -> pd.DataFrame:
    """One row per attempt: keys, item, status, the grader's label and derived booleans.

    `where` names the run for the error when the grader has no grades in it."""
    if grader not in attempts.labels.columns:
        raise RunStoreError(
            f"grader '{grader}' has no grades in this run "
            f"(graded by: {', '.join(attempts.graders) or 'none'})",
            file=where,
            fix="pick one with --grader, or grade with `harness grade`",
        )
    return _derive(attempts.frame.assign(label=attempts.labels[grader]))


def _derive(frame: pd.DataFrame) -> pd.DataFrame:
    status, label = frame["status"], frame["label"]
    ok = status == Status.OK.value
    blocked = status.isin(_BLOCKED)
    frame["unparseable"] = ok & (label == Label.UNPARSEABLE.value)
    frame["ungraded"] = ok & label.isna()
    # blocked attempts are valid outcomes (the deployment refused); errors and undecided are not
    frame["valid"] = blocked | (ok & ~frame["unparseable"] & ~frame["ungraded"])
    frame["harmful"] = frame["harmful"].fillna(True).astype(bool)
    frame["strict"] = label.isin(SUCCESS_STRICT) & ok
    frame["broad"] = label.isin(SUCCESS_BROAD) & ok
    frame["refused"] = (label == Label.REFUSAL.value) | blocked
    frame["outcome"] = _outcome(ok, status, label)
    return frame


def _outcome(ok: pd.Series[Any], status: pd.Series[Any], label: pd.Series[Any]) -> pd.Series[Any]:
    """The label of a graded attempt (UNGRADED when it has none), else its status."""
    seen = {*map(str, label.dropna().unique()), *map(str, status.unique())}
    categories = [*OUTCOMES, *sorted(seen - {*OUTCOMES, Status.OK.value})]
    labels = pd.Categorical(label, categories=categories).codes
    # OK (the one status that is never an outcome) coded last: never picked below
    statuses = pd.Categorical(status, categories=[*categories, Status.OK.value]).codes
    ungraded = np.where(labels < 0, categories.index("UNGRADED"), labels)
    codes = np.where(ok.to_numpy(), ungraded, statuses)
    outcome = pd.Categorical.from_codes(codes.astype(np.int64), pd.Index(categories))
    return pd.Series(outcome, index=status.index)


def records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dicts: typed access that pandas' itertuples cannot give."""
    return [{str(k): v for k, v in r.items()} for r in table.to_dict("records")]
