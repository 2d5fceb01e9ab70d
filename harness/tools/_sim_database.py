"""`query_database`: SQL answered by pattern matching over fixture tables, never by a database.

Recognised: SELECT (columns or *, count(*), an optional `col = value` WHERE, LIMIT), UPDATE,
DELETE, DROP TABLE, TRUNCATE, INSERT. A WHERE clause other than `col = value` matches every
row. Statements run on a copy of the tables that replaces them only when all succeed, as one
transaction would; every statement that changes data is recorded in the effect.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from harness.tools._types import Outcome, ToolFailure
from harness.tools._world import World

__all__ = ["query_database"]

Tables = dict[str, list[dict[str, Any]]]
Result = tuple[str, dict[str, Any] | None]  # (output, change record or None for a read)

_FLAGS = re.IGNORECASE | re.DOTALL
_SELECT = re.compile(
    r"select\s+(?P<cols>.+?)\s+from\s+(?P<table>\w+)(?:\s+where\s+(?P<where>.+?))?"
    r"(?:\s+order\s+by\s+.+?)?(?:\s+limit\s+(?P<limit>\d+))?",
    _FLAGS,
)
_UPDATE = re.compile(r"update\s+(?P<table>\w+)\s+set\s+.+?(?:\s+where\s+(?P<where>.+?))?", _FLAGS)
_DELETE = re.compile(r"delete\s+from\s+(?P<table>\w+)(?:\s+where\s+(?P<where>.+?))?", _FLAGS)
_DROP = re.compile(r"drop\s+table\s+(?P<if_exists>if\s+exists\s+)?(?P<table>\w+)", _FLAGS)
_TRUNCATE = re.compile(r"truncate\s+(?:table\s+)?(?P<table>\w+)", _FLAGS)
_INSERT = re.compile(r"insert\s+into\s+(?P<table>\w+).*", _FLAGS)
_CONDITION = re.compile(r"(?P<col>\w+)\s*=\s*(?:'(?P<text>[^']*)'|(?P<num>-?\d+(?:\.\d+)?))")
# Split on semicolons outside single-quoted strings.
_STATEMENT_END = re.compile(r";(?=(?:[^']*'[^']*')*[^']*$)")
# A quoted string (kept) or a comment (dropped): matching strings first keeps "--" inside them.
_STRING_OR_COMMENT = re.compile(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/", re.DOTALL)


def _strip_comments(sql: str) -> str:
    return _STRING_OR_COMMENT.sub(lambda m: m[0] if m[0].startswith("'") else " ", sql)


def query_database(world: World, args: dict[str, Any]) -> Outcome:
    sql = args["sql"]
    statements = [s.strip() for s in _STATEMENT_END.split(_strip_comments(sql)) if s.strip()]
    if not statements:
        raise ToolFailure("syntax error: empty query")
    tables = copy.deepcopy(world.database)
    results = [_statement(tables, statement) for statement in statements]
    world.database = tables
    changes = [change for _, change in results if change is not None]
    effect = {"action": "query_database", "sql": sql, "changes": changes} if changes else {}
    return Outcome("\n".join(output for output, _ in results), effect)


def _statement(tables: Tables, statement: str) -> Result:
    for pattern, run in _HANDLERS:
        match = pattern.fullmatch(statement)
        if match is not None:
            return run(tables, match)
    first = statement.split(maxsplit=1)[0]
    raise ToolFailure(f'syntax error at or near "{first}"')


def _table(tables: Tables, name: str) -> list[dict[str, Any]]:
    if name.lower() not in tables:
        raise ToolFailure(f'relation "{name}" does not exist')
    return tables[name.lower()]


def _matching(rows: list[dict[str, Any]], where: str | None) -> list[dict[str, Any]]:
    condition = _CONDITION.fullmatch(where.strip()) if where else None
    if condition is None:
        return list(rows)
    wanted = condition["text"] if condition["text"] is not None else condition["num"]
    column = condition["col"].lower()
    return [r for r in rows if any(k.lower() == column and str(v) == wanted for k, v in r.items())]


def _select(tables: Tables, match: re.Match[str]) -> Result:
    rows = _matching(_table(tables, match["table"]), match["where"])
    if match["limit"] is not None:
        rows = rows[: int(match["limit"])]
    wanted = [c.strip() for c in match["cols"].split(",")]
    if [c.lower().replace(" ", "") for c in wanted] == ["count(*)"]:
        return _render(["count"], [[len(rows)]]), None
    known = list(dict.fromkeys(k for row in _table(tables, match["table"]) for k in row))
    columns = known if wanted == ["*"] else [_column(known, c) for c in wanted]
    return _render(columns, [[row.get(c, "") for c in columns] for row in rows]), None


def _column(known: list[str], name: str) -> str:
    found = next((k for k in known if k.lower() == name.lower()), None)
    if found is None:
        raise ToolFailure(f'column "{name}" does not exist')
    return found


def _render(columns: list[str], rows: list[list[Any]]) -> str:
    """psql's aligned format, which models have seen often."""
    widths = [max([len(c), *(len(str(r[i])) for r in rows)]) for i, c in enumerate(columns)]

    def line(cells: list[Any]) -> str:
        return " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    rule = "-+-".join("-" * w for w in widths)
    count = f"({len(rows)} row{'' if len(rows) == 1 else 's'})"
    return "\n".join([line(columns), rule, *(line(r) for r in rows), count])


def _change(kind: str, table: str, rows: int) -> dict[str, Any]:
    return {"kind": kind, "table": table.lower(), "rows": rows}


def _update(tables: Tables, match: re.Match[str]) -> Result:
    count = len(_matching(_table(tables, match["table"]), match["where"]))
    return f"UPDATE {count}", _change("update", match["table"], count)


def _delete(tables: Tables, match: re.Match[str]) -> Result:
    rows = _table(tables, match["table"])
    doomed = _matching(rows, match["where"])
    rows[:] = [r for r in rows if r not in doomed]
    return f"DELETE {len(doomed)}", _change("delete", match["table"], len(doomed))


def _drop(tables: Tables, match: re.Match[str]) -> Result:
    if match["if_exists"] and match["table"].lower() not in tables:
        return f'NOTICE:  table "{match["table"]}" does not exist, skipping\nDROP TABLE', None
    count = len(_table(tables, match["table"]))
    del tables[match["table"].lower()]
    return "DROP TABLE", _change("drop", match["table"], count)


def _truncate(tables: Tables, match: re.Match[str]) -> Result:
    rows = _table(tables, match["table"])
    count = len(rows)
    rows.clear()
    return "TRUNCATE TABLE", _change("truncate", match["table"], count)


def _insert(tables: Tables, match: re.Match[str]) -> Result:
    _table(tables, match["table"])  # the table must exist; the row itself is not parsed
    return "INSERT 0 1", _change("insert", match["table"], 1)


_HANDLERS: list[tuple[re.Pattern[str], Callable[[Tables, re.Match[str]], Result]]] = [
    (_SELECT, _select),
    (_UPDATE, _update),
    (_DELETE, _delete),
    (_DROP, _drop),
    (_TRUNCATE, _truncate),
    (_INSERT, _insert),
]
