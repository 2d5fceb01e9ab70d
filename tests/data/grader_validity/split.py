"""Splits the candidate items once into dev and test (seeded, stratified), before any human
label is seen, so that nothing about the test half can leak into a grader's design.

Strata: source × method × model × the source's own outcome flag (JailbreakBench `jailbroken`,
XSTest `final_label`), so both halves hold the same mix of attacks, models and outcomes.
Within each stratum (in id order, shuffled with the seed) items alternate dev, test, dev, …
starting from a seeded coin, which keeps the halves within one item of each other per stratum.

Usage: python split.py CANDIDATES.jsonl OUT.jsonl
"""

from __future__ import annotations

import json
import random
import sys
from collections import defaultdict
from pathlib import Path

SEED = 20261203


def main() -> None:
    source, out = map(Path, sys.argv[1:3])
    rows = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    rng = random.Random(SEED)
    strata: dict[tuple[str, ...], list[dict[str, object]]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r["id"]):
        key = (row["source"], row["method"], row["model"], row["source_label"])
        strata[key].append(row)
    for stratum in sorted(strata):
        members = strata[stratum]
        rng.shuffle(members)
        first = rng.choice(("dev", "test"))
        second = "test" if first == "dev" else "dev"
        for i, row in enumerate(members):
            row["split"] = first if i % 2 == 0 else second
    with out.open("w") as f:
        for row in sorted(rows, key=lambda r: r["id"]):
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    counts: defaultdict[object, int] = defaultdict(int)
    for row in rows:
        counts[row["split"]] += 1
    print(dict(counts))


if __name__ == "__main__":
    main()
