"""Measures every built-in offline grader against the adjudicated labels.

    python tests/data/grader_validity/measure.py                # dev split: for tuning
    python tests/data/grader_validity/measure.py --split test --write
        # test split, written to graders/validity_cards.json

Only the test figures are quoted and shipped; only the dev split is looked at while tuning.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from graders._validity import CARDS_FILE, measure_builtins

ITEMS = Path(__file__).with_name("items.jsonl")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--write", action="store_true", help="write the shipped cards (test)")
    parser.add_argument("--items", type=Path, default=ITEMS, help="the labelled set")
    args = parser.parse_args()
    cards = measure_builtins(args.items, args.split)
    for card in cards:
        print(f"{card.grader:18} {card.variant:17} {card.summary()}")
    if args.write:
        if args.split != "test":
            parser.error("--write ships test-split figures only")
        records = [card.model_dump(mode="json") for card in cards]
        CARDS_FILE.write_text(json.dumps(records, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {CARDS_FILE}")


if __name__ == "__main__":
    main()
