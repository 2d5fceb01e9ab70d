"""The humans' label of each attempt, as the reference of the judge-error correction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CONSENSUS", "human_consensus"]

CONSENSUS = "human_consensus"


def human_consensus(labels: pd.DataFrame, raters: Mapping[str, str]) -> pd.Series[str]:
    """Per attempt (a row of `labels`, one column per rater): the adjudicated label where
    there is one, else the label every annotator who labelled it gave, else missing (the
    annotators disagree and nobody has settled it: `harness annotate RUN --adjudicate`)."""
    import pandas as pd

    humans = [r for r, kind in raters.items() if kind == "human" and r in labels.columns]
    settled = [r for r, kind in raters.items() if kind == "adjudicated" and r in labels.columns]
    given = labels[humans]
    agreed = given.bfill(axis=1).iloc[:, 0] if humans else pd.Series(pd.NA, index=labels.index)
    agreed = agreed.where(given.nunique(axis=1) == 1) if humans else agreed
    result = labels[settled[0]].combine_first(agreed) if settled else agreed
    return result.astype(object).rename(CONSENSUS)
