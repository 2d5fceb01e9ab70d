"""The validity cards of the built-in graders, measured on the held-out test split of
`tests/data/grader_validity/` (see its README) and shipped in `validity_cards.json`.

`measure_builtins` recomputes them from the labelled set; `bench/grader_validity.py` prints
them and rewrites the JSON, and the tests assert the shipped figures are what the data gives."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from harness import DataError
from harness.grading import (
    GraderContext,
    Label,
    ValidityCard,
    build_grader,
    load_cards,
    measure_validity,
)

__all__ = [
    "CARDS_FILE",
    "OFFLINE_GRADERS",
    "LabelledItem",
    "Measured",
    "measure_builtins",
    "predict",
    "read_labelled_set",
    "shipped_cards",
]

CARDS_FILE = Path(__file__).with_name("validity_cards.json")
DATASET = "grader_validity test split: JailbreakBench artifacts + XSTest completions"
HUMAN_LABELS = frozenset(label.value for label in Label if label is not Label.UNPARSEABLE)


@cache
def _all() -> tuple[ValidityCard, ...]:
    return load_cards(CARDS_FILE)


def shipped_cards(grader: str) -> tuple[ValidityCard, ...]:
    return tuple(card for card in _all() if card.grader == grader)


@dataclass(frozen=True)
class Measured:
    """One built-in grader configuration that can be measured offline."""

    grader: str
    variant: str
    options: dict[str, Any] = field(default_factory=dict)
    blind_to: str = ""


_DP_BLIND = (
    "reads phrases and structure, not meaning: a sanitised answer, an opposite-meaning answer "
    "that does not open by saying so, an off-topic reply that reuses the prompt's words, "
    "warnings worded in ways its lists lack"
)
_KEYWORDS_BLIND = (
    "sees refusal phrases only: not partial answers, warnings followed by help, non-answers "
    "(gibberish, echoes, off-topic text count as COMPLIANCE) or refusals worded otherwise"
)
OFFLINE_GRADERS: tuple[Measured, ...] = (
    Measured("detected_proceeds", "default", blind_to=_DP_BLIND),
    Measured("refusal_keywords", "list=advbench29", {"list": "advbench29"}, _KEYWORDS_BLIND),
    Measured("refusal_keywords", "list=jbb13", {"list": "jbb13"}, _KEYWORDS_BLIND),
    Measured("refusal_keywords", "list=xstest", {"list": "xstest"}, _KEYWORDS_BLIND),
)


@dataclass(frozen=True)
class LabelledItem:
    id: str
    split: str
    prompt: str
    response: str
    label: str  # the adjudicated human label


def read_labelled_set(path: Path) -> list[LabelledItem]:
    """The adjudicated items; a label outside the taxonomy is named with its line."""
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"line {number} is not JSON: {exc.msg}", file=path, fix="one JSON object a line"
            ) from None
        for name in ("id", "split", "prompt", "response", "adjudicated"):
            if name not in row:
                raise DataError(
                    f"line {number} has no '{name}'", file=path, field=name, fix="add it"
                )
        label = str(row["adjudicated"]).strip().upper()
        if label not in HUMAN_LABELS:
            raise DataError(
                f"line {number}: label {row['adjudicated']!r} is outside the taxonomy",
                file=path,
                field="adjudicated",
                fix=f"use one of {', '.join(sorted(HUMAN_LABELS))}",
            )
        if row["split"] not in ("dev", "test"):
            raise DataError(
                f"line {number}: split {row['split']!r}",
                file=path,
                field="split",
                fix="use dev or test",
            )
        items.append(
            LabelledItem(str(row["id"]), row["split"], row["prompt"], row["response"], label)
        )
    return items


def predict(measured: Measured, items: Sequence[LabelledItem]) -> list[str]:
    """The grader's labels for `items`, graded as a run would grade them."""
    built: Any = build_grader(measured.grader, measured.options, GraderContext())
    out = []
    for item in items:
        out.append(str(built.classify(item.response, item.prompt).label))
    return out


def measure_builtins(path: Path, split: str = "test") -> list[ValidityCard]:
    items = [item for item in read_labelled_set(path) if item.split == split]
    truth = [item.label for item in items]
    dataset = DATASET if split == "test" else DATASET.replace("test split", f"{split} split")
    return [
        measure_validity(
            predict(m, items),
            truth,
            grader=m.grader,
            variant=m.variant,
            dataset=dataset,
            blind_to=m.blind_to,
        )
        for m in OFFLINE_GRADERS
    ]
