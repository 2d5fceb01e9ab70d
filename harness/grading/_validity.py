"""Validity cards: how far a grader's labels can be trusted, measured against careful human labels.

A grader class may ship cards as a class attribute and say which card applies to its options:

    class MyGrader:
        validity_cards: ClassVar[tuple[ValidityCard, ...]] = (card, ...)
        @classmethod
        def validity_variant(cls, options) -> str | None: ...   # None: no card applies
        validity_note: ClassVar[str] = "n/a: grades tool calls"  # why there is no card

A grader without cards (a plugin, say) is *unvalidated*: a report says so next to its rates.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness._errors import ConfigError

__all__ = [
    "UNVALIDATED",
    "ValidityCard",
    "card_for",
    "cards_of",
    "describe_validity",
    "four_class",
    "load_cards",
    "measure_validity",
]

UNVALIDATED = "unvalidated: no validity card for this grader and options"


class ValidityCard(BaseModel):
    """One grader configuration's agreement with adjudicated human labels on a held-out split.

    Success is COMPLIANCE or DETECTED_PROCEEDS (the table's strict ASR). The 4-class κ is over
    REFUSAL (with NON_ANSWER), PARTIAL, COMPLIANCE and DETECTED_PROCEEDS."""

    # defer_build: built at first use, as in harness.config._models
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    grader: str = Field(description="registry name")
    variant: str = Field("default", description="which options the figures hold for")
    dataset: str = Field(description="what the figures were measured on")
    n: int = Field(ge=1, description="items in the measured split")
    kappa: float = Field(ge=-1, le=1, description="4-class Cohen's kappa against the humans")
    dp_precision: float | None = Field(None, ge=0, le=1)
    dp_recall: float | None = Field(None, ge=0, le=1)
    success_fpr: float = Field(ge=0, le=1, description="P(grader success | human not success)")
    success_fnr: float = Field(ge=0, le=1, description="P(grader not success | human success)")
    n_success: int = Field(ge=1, description="items the humans labelled success")
    n_failure: int = Field(ge=1, description="items the humans labelled not success")
    blind_to: str = Field("", description="what the grader cannot see")

    @property
    def sensitivity(self) -> float:
        return 1 - self.success_fnr

    @property
    def specificity(self) -> float:
        return 1 - self.success_fpr

    def summary(self) -> str:
        dp = (
            f"DP precision {_fmt(self.dp_precision)} recall {_fmt(self.dp_recall)}, "
            if self.dp_precision is not None or self.dp_recall is not None
            else "no DP label, "
        )
        return (
            f"κ {self.kappa:.2f}, {dp}success FPR {self.success_fpr:.2f} "
            f"FNR {self.success_fnr:.2f} (n={self.n}, {self.dataset})"
        )


def four_class(label: str) -> str:
    """The 4-class reading of a label: a non-answer is no help, as a refusal is."""
    return "REFUSAL" if label == "NON_ANSWER" else label


def measure_validity(
    predicted: Sequence[str],
    truth: Sequence[str],
    *,
    grader: str,
    dataset: str,
    variant: str = "default",
    blind_to: str = "",
) -> ValidityCard:
    """A grader's card from its labels and the humans' on the same items, in the same order."""
    # pandas and scipy load when a card is measured, not when graders are listed
    import pandas as pd

    from harness.stats import cohen_kappa

    if len(predicted) != len(truth) or not truth:
        raise ValueError(f"need paired labels, got {len(predicted)} and {len(truth)}")
    pred4 = pd.Series([four_class(p) for p in predicted])
    true4 = pd.Series([four_class(t) for t in truth])
    success = {"COMPLIANCE", "DETECTED_PROCEEDS"}
    pairs = list(zip(predicted, truth, strict=True))
    said_dp = [t for p, t in pairs if p == "DETECTED_PROCEEDS"]
    were_dp = [p for p, t in pairs if t == "DETECTED_PROCEEDS"]
    positives = [p in success for p, t in pairs if t in success]
    negatives = [p in success for p, t in pairs if t not in success]
    if not positives or not negatives:
        raise ValueError("the humans' labels need both successes and non-successes")
    return ValidityCard(
        grader=grader,
        variant=variant,
        dataset=dataset,
        n=len(truth),
        kappa=round(cohen_kappa(pred4, true4), 4),
        dp_precision=_ratio(said_dp.count("DETECTED_PROCEEDS"), len(said_dp)),
        dp_recall=_ratio(were_dp.count("DETECTED_PROCEEDS"), len(were_dp)),
        success_fpr=round(sum(negatives) / len(negatives), 4),
        success_fnr=round(1 - sum(positives) / len(positives), 4),
        n_success=len(positives),
        n_failure=len(negatives),
        blind_to=blind_to,
    )


def _ratio(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def _fmt(value: float | None) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.2f}"


def load_cards(path: Path) -> tuple[ValidityCard, ...]:
    """Cards from a JSON list; a malformed file is the grader package's error, said in one line."""
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"cannot read validity cards: {exc}", file=path, fix="reinstall the grader package"
        ) from None
    if not isinstance(raw, list):
        raise ConfigError(
            "validity cards must be a JSON list", file=path, fix="reinstall the grader package"
        )
    return tuple(_validated(entry, str(path), i) for i, entry in enumerate(raw))


def _validated(entry: Any, where: str, index: int) -> ValidityCard:
    if isinstance(entry, ValidityCard):
        return entry
    try:
        return ValidityCard.model_validate(entry)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = ".".join(str(p) for p in error["loc"])
        raise ConfigError(
            f"malformed validity card: {error['msg']}",
            file=where,
            field=f"[{index}].{loc}" if loc else f"[{index}]",
            fix="each card needs grader, dataset, n, kappa, success_fpr, success_fnr, "
            "n_success and n_failure",
        ) from None


def cards_of(cls: type) -> tuple[ValidityCard, ...]:
    """Every card a grader class ships (none for most plugins)."""
    shipped: Sequence[Any] = getattr(cls, "validity_cards", ()) or ()
    where = f"{cls.__module__}:{cls.__qualname__}.validity_cards"
    return tuple(_validated(entry, where, i) for i, entry in enumerate(shipped))


def card_for(cls: type, options: Any) -> ValidityCard | None:
    """The card that holds for a grader built with these options, if it ships one."""
    cards = cards_of(cls)
    if not cards:
        return None
    variant_of = getattr(cls, "validity_variant", None)
    variant = variant_of(options) if callable(variant_of) else "default"
    return next((c for c in cards if c.variant == variant), None)


def describe_validity(cls: type, options: Any) -> str:
    """One line for people: the card's figures, or why there are none."""
    card = card_for(cls, options)
    if card is not None:
        return card.summary()
    if cards_of(cls):
        return "unvalidated: these options differ from every validated configuration"
    if getattr(options, "human", False):  # a grader that passes on people's labels
        return "n/a: human labels, the reference others are measured against"
    note = getattr(cls, "validity_note", None)
    return str(note) if note else UNVALIDATED
