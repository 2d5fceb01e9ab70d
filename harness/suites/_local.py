"""Local suite files read directly, without `datasets`.

`datasets.load_dataset` on a local file costs a second or more before the first row (its
import alone is ~0.5 s) and writes an Arrow copy of the file into the Hugging Face cache. Here
CSV goes through `pandas.read_csv` and Parquet through `pyarrow.parquet`, as datasets reads
them; JSON and JSON Lines through the stdlib, values kept as written (see `_from_rows`). For
flat columns the rows are the ones datasets gives (tests/test_suites.py compares them), and
shuffling draws the permutation as `Dataset.shuffle(seed=...)` does, so a seeded sample of a
suite is the same items either way. `hf:` ids still go through `datasets`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # loaded for CSV and Parquet only: JSON suites need none of it
    import pyarrow as pa

__all__ = ["LocalTable", "ParseError", "read_local"]


class ParseError(ValueError):
    """The file is not valid in its format; the message says where."""


class LocalTable:
    """The part of `datasets.Dataset`'s interface a suite needs, over rows read locally."""

    def __init__(
        self, table: pa.Table | None = None, rows: list[dict[str, Any]] | None = None
    ) -> None:
        # an Arrow table (CSV, Parquet) or rows of Python values (JSON)
        self._table = table
        self._rows = rows

    @property
    def column_names(self) -> list[str]:
        if self._table is not None:
            return list(self._table.column_names)
        return list(self._rows[0]) if self._rows else []  # _from_rows gave every row every key

    def __len__(self) -> int:
        return self._table.num_rows if self._table is not None else len(self._rows or [])

    def shuffle(self, seed: int) -> LocalTable:
        import numpy as np

        # as datasets.Dataset.shuffle(seed=seed) draws it
        permutation = np.random.default_rng(seed).permutation(len(self))
        return self.select(permutation.tolist())

    def select(self, indices: Iterable[int]) -> LocalTable:
        chosen = list(indices)
        if self._table is not None:
            import pyarrow as pa

            return LocalTable(table=self._table.take(pa.array(chosen, pa.int64())))
        rows = self._rows or []
        return LocalTable(rows=[rows[i] for i in chosen])

    def to_list(self) -> list[dict[str, Any]]:
        if self._table is not None:
            return list(self._table.to_pylist())
        return list(self._rows or [])


def read_local(path: Path, builder: str) -> LocalTable:
    """Raises ParseError when the file is not valid `builder` (json, csv, parquet)."""
    if builder == "csv":
        return _read_csv(path)
    if builder == "parquet":
        return _read_parquet(path)
    return _read_json(path)


def _read_json(path: Path) -> LocalTable:
    text = path.read_text(encoding="utf-8-sig")
    try:
        document = json.loads(text)
    except ValueError:
        return _from_rows(_json_lines(text))  # not one document: JSON Lines
    if isinstance(document, dict) and not all(isinstance(c, list) for c in document.values()):
        return _from_rows([document])  # a file of one line is one row
    if isinstance(document, dict):
        lengths = {len(c) for c in document.values()}
        if len(lengths) > 1:
            raise ParseError("JSON columns have different lengths")
        count = lengths.pop() if lengths else 0
        return _from_rows([{k: c[i] for k, c in document.items()} for i in range(count)])
    if isinstance(document, list) and all(isinstance(r, dict) for r in document):
        return _from_rows(document)
    raise ParseError("JSON must be one object per line, a list of objects, or columns of lists")


def _json_lines(text: str) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ParseError(f"JSON parse error on line {number}: {exc}") from None
        if not isinstance(row, dict):
            raise ParseError(f"line {number} is JSON but not an object")
        rows.append(row)
    return rows


def _from_rows(rows: Sequence[dict[str, Any]]) -> LocalTable:
    """Every key of any row is a column, null where a row lacks it, as datasets builds it.

    Values stay as JSON wrote them: Arrow would widen the structs of a column to the union of
    their keys (a target's `arguments` gaining null entries) and read ISO strings as dates.
    """
    names = list(dict.fromkeys(k for row in rows for k in row))
    return LocalTable(rows=[{name: row.get(name) for name in names} for row in rows])


def _read_csv(path: Path) -> LocalTable:
    import pandas as pd
    import pyarrow as pa

    try:
        frame = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ParseError(str(exc) or type(exc).__name__) from None
    return LocalTable(table=pa.Table.from_pandas(frame, preserve_index=False))


def _read_parquet(path: Path) -> LocalTable:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return LocalTable(table=pq.read_table(path))
    except (pa.ArrowInvalid, OSError) as exc:
        raise ParseError(str(exc) or type(exc).__name__) from None
