"""`harness agree`: inter-rater agreement on any label table (CSV, JSONL, JSON or Parquet).

Registered on the app by the import at the end of harness.cli; import harness.cli, not this
module (importing it first would be a circular import).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from harness._errors import DataError, UserError
from harness.cli import _choice, app

if TYPE_CHECKING:
    import pandas as pd

    from harness.stats import Level, UndecidablePolicy

__all__ = ["agree", "read_label_table"]

_READERS = (".csv", ".jsonl", ".json", ".parquet")
_LEVELS = ("nominal", "ordinal", "interval", "ratio")
_POLICIES = ("as_missing", "exclude", "as_category")


@app.command()
def agree(
    table: Annotated[
        Path, typer.Argument(help="CSV, JSONL, JSON or Parquet file of labels, or a run directory")
    ],
    raters: Annotated[
        str | None,
        typer.Option(help="rater columns, comma-separated (two or more); for a run: its graders"),
    ] = None,
    reference: Annotated[
        str | None, typer.Option(help="reference column each rater is compared with")
    ] = None,
    map_file: Annotated[
        Path | None, typer.Option("--map", help="YAML/JSON {raw_label: label} collapse")
    ] = None,
    collapse: Annotated[
        str, typer.Option(help="none, binary_success or binary_success_broad")
    ] = "none",
    level: Annotated[str, typer.Option(help="nominal, ordinal, interval or ratio")] = "nominal",
    order: Annotated[
        str | None, typer.Option(help="ordinal labels low to high, comma-separated")
    ] = None,
    labels: Annotated[
        str | None, typer.Option(help="the valid raw labels; any other value is undecidable")
    ] = None,
    policy: Annotated[
        str, typer.Option(help="undecidable labels: as_missing, exclude or as_category")
    ] = "as_missing",
    fmt: Annotated[str, typer.Option("--format", help="md or json")] = "md",
    group_by: Annotated[str | None, typer.Option(help="also report per value of COL")] = None,
    bootstrap: Annotated[int, typer.Option(help="bootstrap resamples for alpha's CI")] = 1000,
    seed: Annotated[int, typer.Option(help="bootstrap seed")] = 0,
) -> None:
    """Agreement between rater columns: Krippendorff's alpha, Fleiss' and Cohen's kappa."""
    chosen_fmt = _choice(fmt, ("md", "json"), "--format")
    if not table.is_dir():
        names = _raters(raters or "")
    if map_file is not None and collapse != "none":
        raise UserError("give --map or --collapse, not both", field="--map")
    # checked before the statistics stack (scipy, pandas) is imported: common mistakes fail fast
    chosen_level = cast("Level", _choice(level, _LEVELS, "--level"))
    chosen_policy = cast("UndecidablePolicy", _choice(policy, _POLICIES, "--policy"))
    if table.is_dir():
        wanted = [c for c in (reference, group_by) if c]
        frame, names = run_label_table(table, _split(raters) if raters else None, wanted)
    else:
        frame = read_label_table(table)

    from harness.stats import (
        agreement_markdown,
        agreement_report,
        load_collapse_map,
        require_columns,
    )

    require_columns(frame, [*names, *[c for c in (reference, group_by) if c]], file=table)
    report = agreement_report(
        frame,
        names,
        reference=reference,
        collapse=load_collapse_map(map_file) if map_file is not None else collapse,
        level=chosen_level,
        order=_split(order) if order else None,
        labels=_split(labels) if labels else None,
        policy=chosen_policy,
        n_boot=bootstrap,
        seed=seed,
        group_by=group_by,
    )
    typer.echo(json.dumps(report, indent=2) if chosen_fmt == "json" else agreement_markdown(report))


def run_label_table(
    run_dir: Path, raters: list[str] | None, columns: list[str] | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """A run's attempts (their id and the attempt `columns` asked for), one column per grader
    (named after the grader), and the raters."""
    from harness.annotate import CONSENSUS, annotation_raters, human_consensus
    from harness.reporting import label_table
    from harness.store import ATTEMPT_COLUMNS, RunStore

    with RunStore(run_dir) as store:
        graders = store.graders()
        wanted = [c for c in columns or [] if c in ATTEMPT_COLUMNS and c not in graders]
        frame = label_table(store, wanted)
    people = annotation_raters(run_dir)
    if people and CONSENSUS not in graders:  # a reference column, never a rater of its own
        frame[CONSENSUS] = human_consensus(frame, people)
    names = raters or graders
    unknown = [n for n in names if n not in graders]
    if unknown:
        raise UserError(
            f"no grader named {', '.join(unknown)} in this run",
            file=run_dir,
            field="--raters",
            fix=f"graders in this run: {', '.join(graders) or 'none'}",
        )
    if len(names) < 2:
        raise UserError(
            "agreement needs at least two graders",
            file=run_dir,
            fix="grade the run with another grader: harness grade RUN --grader NAME",
        )
    return frame, names


def _raters(text: str) -> list[str]:
    names = _split(text)
    if len(names) < 2 or len(set(names)) != len(names):
        raise UserError(
            "agreement needs at least two different raters", field="--raters", fix="--raters a,b"
        )
    return names


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def read_label_table(path: Path) -> pd.DataFrame:
    """Read a table by its extension; a missing or unreadable file is a user error."""
    if not path.is_file():
        raise DataError(f"table not found: {path}", file=path, fix="give an existing file")
    suffix = path.suffix.lower()
    if suffix not in _READERS:
        raise DataError(
            f"cannot tell the format of {path.name}",
            file=path,
            fix=f"use a {', '.join(_READERS)} file",
        )
    import pandas as pd

    try:
        if suffix == ".csv":
            # only empty cells are missing: "NA" or "None" may be real labels
            return pd.read_csv(path, keep_default_na=False, na_values=[""])
        if suffix == ".parquet":
            return pd.read_parquet(path)
        # dtype=False keeps labels such as "1" or "True" as written
        return pd.read_json(path, lines=suffix == ".jsonl", dtype=False)
    except Exception as exc:  # pandas and pyarrow raise many types for malformed files
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"cannot read the table: {first}", file=path) from None
