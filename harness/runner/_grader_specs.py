"""Which graders `harness grade` runs: names from the command line merged with the run's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness._errors import UserError
from harness.config import GraderSpec
from harness.core import Manifest

__all__ = ["regrade_specs"]


def regrade_specs(
    run_dir: Path,
    manifest: Manifest,
    names: list[str],
    options: dict[str, dict[str, Any]],
) -> list[GraderSpec]:
    """The grader specs of a re-grade of `run_dir`.

    `names` are rater ids of the run (their stored spec is reused), registry names, or
    `ID=NAME` (grade as rater ID); none means every grader of the run except imported raters.
    `options` (by rater id) override the stored options key by key.
    """
    known = manifest.grader_entries()
    if not names:
        # imported raters' verdicts were stored by `harness import` and never change
        names = [r for r, g in known.items() if g.get("name") != "imported"]
        if not names:
            raise UserError(
                "this run names no graders",
                file=run_dir,
                fix="pass --grader NAME (see `harness list graders`)",
            )
    return [_spec(entry, known, options) for entry in names]


def _spec(
    entry: str, known: dict[str, dict[str, Any]], options: dict[str, dict[str, Any]]
) -> GraderSpec:
    rater, sep, name = entry.partition("=")
    base: dict[str, Any] = dict(known.get(rater, {})) if not sep else {"name": name, "id": rater}
    base = base or {"name": rater}
    base.pop("rater", None)
    base["options"] = {**base.get("options", {}), **options.get(rater, {})}
    try:
        return GraderSpec.model_validate(base)
    except ValidationError as exc:
        raise UserError(
            str(exc.errors()[0]["msg"]), field=f"--grader {entry}", fix="--grader ID=NAME"
        ) from None
