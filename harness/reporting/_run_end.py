"""What `harness run` prints at its end: the report, then the graders' agreement."""

from __future__ import annotations

from pathlib import Path

from harness._errors import UserError
from harness.reporting._agreement import run_agreement_lines
from harness.reporting._analysis import analyse_run
from harness.reporting._label_tables import run_label_table
from harness.reporting._registry import render

__all__ = ["run_end_report"]


def run_end_report(run_dir: Path) -> str:
    """The Markdown report of `run_dir`, then how far its graders agree on attack success
    (nothing of the latter with fewer than two graders)."""
    text = render(analyse_run(run_dir), "md")
    try:
        frame, graders = run_label_table(run_dir, None)
    except UserError:
        return text  # fewer than two graders: nothing to compare
    return "\n".join([text, *run_agreement_lines(frame, graders, run_dir)])
