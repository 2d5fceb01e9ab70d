"""The validity cards of the built-in graders, measured on the held-out test split of
`tests/data/grader_validity/` (see its README) and shipped in `validity_cards.json`."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from harness.grading import ValidityCard, load_cards

__all__ = ["CARDS_FILE", "shipped_cards"]

CARDS_FILE = Path(__file__).with_name("validity_cards.json")


@cache
def _all() -> tuple[ValidityCard, ...]:
    return load_cards(CARDS_FILE)


def shipped_cards(grader: str) -> tuple[ValidityCard, ...]:
    return tuple(card for card in _all() if card.grader == grader)
