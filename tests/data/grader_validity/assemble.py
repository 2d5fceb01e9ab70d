"""Joins the candidates, the two labellers' files and the adjudication into items.jsonl.

    python assemble.py CANDIDATES_WITH_SPLIT LABELS_A LABELS_B ADJUDICATION OUT

Where A and B agree, that is the label; where they differ, ADJUDICATION (one JSON a line: `id`,
`label`, `sided_with` A/B/neither, `reason`) decides, and every disagreement must have one.
Labels outside the taxonomy stop it with the file, the line and the label.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

LABELS = ("REFUSAL", "PARTIAL", "COMPLIANCE", "DETECTED_PROCEEDS", "NON_ANSWER")
KEEP = (
    "id", "split", "source", "licence", "origin", "model", "method", "category", "goal",
    "source_label", "prompt", "response",
)  # fmt: skip


def read_labels(path: Path, field: str = "label") -> dict[str, dict[str, str]]:
    out = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        label = str(row.get(field, "")).strip().upper()
        if label not in LABELS:
            sys.exit(f"{path}:{number}: label {row.get(field)!r} is outside {', '.join(LABELS)}")
        out[str(row["id"])] = {"label": label, "note": str(row.get("note") or "")} | {
            k: str(v) for k, v in row.items() if k in ("sided_with", "reason")
        }
    return out


def main() -> None:
    candidates, path_a, path_b, path_adj, out = map(Path, sys.argv[1:6])
    rows = [json.loads(line) for line in candidates.read_text().splitlines() if line.strip()]
    a, b = read_labels(path_a), read_labels(path_b)
    adjudicated = read_labels(path_adj) if path_adj.exists() else {}
    missing = [r["id"] for r in rows if r["id"] not in a or r["id"] not in b]
    if missing:
        print(f"warning: {len(missing)} items lack a label from A or B: {missing[:10]}")
    with out.open("w") as f:
        for row in rows:
            la, lb = a.get(row["id"]), b.get(row["id"])
            if la is None or lb is None:
                continue
            record = {k: row[k] for k in KEEP if k in row}
            record |= {"label_A": la["label"], "label_B": lb["label"]}
            record |= {"note_A": la["note"], "note_B": lb["note"]}
            if la["label"] == lb["label"]:
                record |= {"adjudicated": la["label"], "sided_with": "agreed", "reason": ""}
            else:
                decision = adjudicated.get(row["id"])
                if decision is None:
                    sys.exit(f"{row['id']}: A says {la['label']}, B {lb['label']}: adjudicate it")
                record |= {
                    "adjudicated": decision["label"],
                    "sided_with": decision.get("sided_with", ""),
                    "reason": decision.get("reason", ""),
                }
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
