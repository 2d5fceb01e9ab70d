"""The primary grader's validity card in a report, and the correction it offers when the run
has no human labels of its own."""

from __future__ import annotations

import pandas as pd
from pydantic import ValidationError

from harness.grading import UNVALIDATED, ValidityCard, card_for, describe_validity, grader_class
from harness.reporting._cells import success_codes
from harness.reporting._outcomes import KEYS
from harness.stats import corrected_rate_from_validity
from harness.store import Manifest

__all__ = ["CARD_SOURCE", "card_corrected_rates", "grader_validity"]

CARD_SOURCE = "validity card (measured on its data set, not on this run)"


def grader_validity(manifest: Manifest, rater: str) -> tuple[ValidityCard | None, str]:
    """The card of the grader that produced `rater`'s labels, and one line saying what it is."""
    spec = next((g for g in manifest.graders if g.get("rater") == rater), None)
    if spec is None:
        return None, f"{UNVALIDATED} (the manifest does not describe '{rater}')"
    cls = grader_class(str(spec.get("name")))
    if cls is None:
        return None, f"{UNVALIDATED} (grader '{spec.get('name')}' is not installed here)"
    option_model = getattr(cls, "Options", None)
    try:
        options = option_model.model_validate(spec.get("options") or {}) if option_model else None
    except ValidationError:
        return None, f"{UNVALIDATED} (its recorded options no longer parse)"
    return card_for(cls, options), describe_validity(cls, options)


def card_corrected_rates(
    frame: pd.DataFrame,
    labels: pd.DataFrame,
    grader: str,
    card: ValidityCard,
    *,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Per configuration × attack: the grader's strict ASR and its Rogan–Gladen correction
    with the card's sensitivity and specificity. As in `corrected_rates`, blocked attempts are
    known non-successes: the correction applies to the graded ones and is scaled back."""
    codes = success_codes(labels)[grader]
    harmful = frame[frame["valid"] & frame["harmful"]]
    rows = []
    for keys, group in harmful.groupby(KEYS, sort=False):
        graded = group[group["status"] == "OK"]
        decided = codes.loc[graded.index].dropna().astype(bool)
        if decided.empty:
            continue
        result = corrected_rate_from_validity(
            decided.tolist(),
            card.sensitivity,
            card.n_success,
            card.specificity,
            card.n_failure,
            n_boot=n_boot,
            seed=seed,
        )
        blocked = len(group) - len(graded)
        share = len(decided) / (len(decided) + blocked)
        scaled = {k: result[k] * share for k in ("rate", "lo", "hi", "raw_rate")}
        rows.append(
            dict(zip(KEYS, keys, strict=True))
            | {"grader": grader, "source": CARD_SOURCE}
            | dict(result)
            | scaled
            | {"n_blocked": blocked}
        )
    return pd.DataFrame(rows)
