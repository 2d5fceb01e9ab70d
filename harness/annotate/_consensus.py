"""The humans' label of each attempt, as the reference of the judge-error correction."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CONSENSUS", "MAJORITY", "human_consensus", "human_majority"]

CONSENSUS = "human_consensus"
MAJORITY = "human_majority"


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


def human_majority(labels: pd.DataFrame, raters: Sequence[str]) -> pd.Series[str]:
    """Per attempt: the label more than half of `raters` who labelled it gave (imported
    annotators, e.g. a benchmark's three), else missing. Unlike the consensus above, nobody
    here can settle a disagreement afterwards, so most of three is taken as settled."""
    import pandas as pd

    def most(row: tuple[object, ...]) -> object:
        given = [str(v) for v in row if isinstance(v, str)]
        if not given:
            return pd.NA
        label, count = Counter(given).most_common(1)[0]
        return label if count * 2 > len(given) else pd.NA

    rows = labels[list(raters)].itertuples(index=False, name=None)
    return pd.Series([most(r) for r in rows], index=labels.index, dtype=object, name=MAJORITY)
