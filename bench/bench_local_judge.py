"""The demo's local judge (Gemma 3 270M, answers held to a label by a grammar) measured against
the adjudicated human labels of the grader-validity test split.

    python bench/bench_local_judge.py [--limit N] [--split test]

Imports the split's items as a run, grades them with `harness grade` through the demo config's
`gemma-judge` model (`llm_judge`, template `multiclass`), and prints the judge's card beside the
share of its labels that parsed. Several minutes on 2 cores: a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ITEMS = REPO / "tests" / "data" / "grader_validity" / "items.jsonl"
DEMO = REPO / "configs" / "demo.yaml"


def harness(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "harness", *args], check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", choices=("dev", "test"), default="test")
    parser.add_argument("--limit", type=int, default=None, help="first N items of the split")
    args = parser.parse_args()
    from harness.grading import measure_validity
    from harness.reporting import attempt_table
    from harness.store import RunStore

    items = [json.loads(line) for line in ITEMS.read_text().splitlines()]
    items = [i for i in items if i["split"] == args.split][: args.limit]
    with tempfile.TemporaryDirectory() as scratch:
        table = Path(scratch) / "items.jsonl"
        table.write_text(
            "".join(
                json.dumps({"id": i["id"], "prompt": i["prompt"], "response": i["response"]}) + "\n"
                for i in items
            )
        )
        run = Path(scratch) / "run"
        harness("import", str(table), "--out", str(run), "--id", "id")
        started = time.perf_counter()
        harness(
            "grade", str(run), "--grader", "gemma_judge=llm_judge",
            "--option", "gemma_judge.model=gemma-judge",
            "--option", "gemma_judge.max_reasks=0",
            "--option", "gemma_judge.max_tokens=12",
            "--models-from", str(DEMO),
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        with RunStore(run) as store:
            frame = attempt_table(store)
    judged = dict(zip(frame["item_id"].astype(str), frame["label_gemma_judge"], strict=True))
    predicted = [str(judged[i["id"]]) for i in items]
    truth = [i["adjudicated"] for i in items]
    print(f"judge labels: {dict(Counter(predicted))} ({elapsed:.0f} s for {len(items)} items)")
    unparseable = sum(p == "UNPARSEABLE" for p in predicted)
    print(f"unparseable: {unparseable} of {len(items)}")
    card = measure_validity(
        predicted, truth, grader="llm_judge", variant="gemma-3-270m multiclass",
        dataset=f"grader-validity {args.split} split",
    )  # fmt: skip
    print(card.summary())


if __name__ == "__main__":
    main()
