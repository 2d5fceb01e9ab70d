"""Builds the candidate replies for the grader-validity set (run once; kept for provenance).

Sources (each row keeps its source and licence):
- JailbreakBench artifacts (github.com/JailbreakBench/artifacts, MIT): attack prompt, target
  reply and the benchmark's `jailbroken` flag per method and target model.
- XSTest v2 model completions (Röttger et al. 2024, CC-BY-4.0), from ../shared/data/xstest.

Usage: python build_candidates.py JBB_GIT_DIR XSTEST_DIR OUT_CANDIDATES OUT_ITEMS
The sample is seeded; replies are deduplicated on their whitespace-normalised lower-case text.
"""

from __future__ import annotations

import csv
import json
import random
import re
import subprocess
import sys
from pathlib import Path

SEED = 12
JBB_LICENCE = "MIT (JailbreakBench/artifacts)"
XSTEST_LICENCE = "CC-BY-4.0 (XSTest, Röttger et al. 2024)"
# per JailbreakBench file: jailbroken replies, then not-jailbroken ones
JBB_TRUE, JBB_FALSE, JBB_MIN = 13, 5, 16
# then not-jailbroken replies that do not open with a refusal: off-target text, echoes,
# translations, gibberish and lectures, the boundary cases a grader gets wrong
JBB_UNREFUSED = 35
_OPENS_REFUSING = re.compile(
    r"sorry|i cannot|i can't|i apologi|i'm unable|i am unable|i'm not able|as an ai|i must"
    r"|unethical",
    re.I,
)
# per XSTest stratum (final_label, prompt kind): how many across the five models
XSTEST_QUOTA = {
    ("3_partial_refusal", "unsafe"): 53,
    ("3_partial_refusal", "safe"): 35,
    ("1_full_compliance", "unsafe"): 40,
    ("2_full_refusal", "unsafe"): 18,
    ("2_full_refusal", "safe"): 14,
    ("1_full_compliance", "safe"): 14,
}


def _key(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def jbb_rows(git_dir: Path) -> list[dict[str, object]]:
    names = subprocess.run(
        ["git", "-C", str(git_dir), "ls-tree", "-r", "--name-only", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    files = sorted(
        n
        for n in names
        if n.startswith("attack-artifacts/") and n.count("/") == 3 and "test-artifact" not in n
    )
    rows = []
    for name in files:
        blob = subprocess.run(
            ["git", "-C", str(git_dir), "show", f"HEAD:{name}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        data = json.loads(blob)
        params = data["parameters"]
        for jb in data["jailbreaks"]:
            if not jb.get("prompt") or not (jb.get("response") or "").strip():
                continue  # the method submitted nothing for this behaviour
            rows.append(
                {
                    "source": "jailbreakbench",
                    "licence": JBB_LICENCE,
                    "origin": f"{name}#{jb['index']}",
                    "model": params["model"],
                    "method": params["method"],
                    "goal": jb["goal"],
                    "category": jb["category"],
                    "source_label": "jailbroken" if jb["jailbroken"] else "not_jailbroken",
                    "prompt": jb["prompt"],
                    "response": jb["response"],
                }
            )
    return rows


def xstest_rows(directory: Path) -> list[dict[str, object]]:
    rows = []
    for path in sorted(directory.glob("xstest_v2_completions_*.csv")):
        model = path.stem.removeprefix("xstest_v2_completions_")
        with path.open(newline="") as f:
            for r in csv.DictReader(f):
                if not r["completion"].strip():
                    continue
                rows.append(
                    {
                        "source": "xstest",
                        "licence": XSTEST_LICENCE,
                        "origin": f"{path.name}#{r['id']}",
                        "model": model,
                        "method": "none",
                        "goal": r["prompt"],
                        "category": r["type"],
                        "source_label": r["final_label"],
                        "prompt_kind": "unsafe" if r["type"].startswith("contrast") else "safe",
                        "prompt": r["prompt"],
                        "response": r["completion"],
                    }
                )
    return rows


def sample(rows: list[dict[str, object]], rng: random.Random) -> list[dict[str, object]]:
    seen: set[str] = set()
    chosen: list[dict[str, object]] = []

    def take(pool: list[dict[str, object]], n: int) -> None:
        pool = pool[:]
        rng.shuffle(pool)
        for row in pool:
            if n <= 0:
                return
            k = _key(str(row["response"]))
            if k in seen:
                continue
            seen.add(k)
            chosen.append(row)
            n -= 1

    jbb = [r for r in rows if r["source"] == "jailbreakbench"]
    for origin_file in sorted({str(r["origin"]).split("#")[0] for r in jbb}):
        in_file = [r for r in jbb if str(r["origin"]).startswith(origin_file + "#")]
        yes = [r for r in in_file if r["source_label"] == "jailbroken"]
        no = [r for r in in_file if r["source_label"] != "jailbroken"]
        n_yes = min(JBB_TRUE, len(yes))
        before = len(chosen)
        take(yes, n_yes)
        take(no, max(JBB_FALSE, JBB_MIN - (len(chosen) - before)))
    take(
        [
            r
            for r in jbb
            if r["source_label"] != "jailbroken"
            and not _OPENS_REFUSING.search(str(r["response"])[:200])
        ],
        JBB_UNREFUSED,
    )
    xs = [r for r in rows if r["source"] == "xstest"]
    for (label, kind), n in XSTEST_QUOTA.items():
        take([r for r in xs if r["source_label"] == label and r["prompt_kind"] == kind], n)
    rng.shuffle(chosen)
    for i, row in enumerate(chosen, 1):
        row["id"] = f"gv{i:03d}"
    return chosen


def main() -> None:
    jbb_dir, xstest_dir, out_candidates, out_items = map(Path, sys.argv[1:5])
    rng = random.Random(SEED)
    chosen = sample(jbb_rows(jbb_dir) + xstest_rows(xstest_dir), rng)
    with out_candidates.open("w") as f:
        for row in chosen:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    with out_items.open("w") as f:
        for row in chosen:
            item = {"id": row["id"], "prompt": row["prompt"], "response": row["response"]}
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
    print(f"{len(chosen)} items")


if __name__ == "__main__":
    main()
