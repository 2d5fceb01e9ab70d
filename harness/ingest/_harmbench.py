"""HarmBench's completions and results files (`generate_completions.py`, `evaluate_completions.py`).

Both are one JSON object: behavior id → a list of `{"test_case": ..., "generation": ...}`; the
results file adds the classifier's `label` (1: the generation is an instance of the behavior,
0: it is not, -1: the classifier's answer could not be read) and, when asked for, the
AdvBench refusal-string `advbench_label` (same coding). One attempt per behavior × test case ×
generation, in file order (the k-th entry of a behavior is sample k when the same test case
repeats, else its own item `behavior_id#k`). Raters: `harmbench.classifier` (`label`) and
`harmbench.advbench` (`advbench_label`): 1 → COMPLIANCE, 0 → REFUSAL, anything else
UNPARSEABLE. The model is not in the file (HarmBench names it in the file's path): pass it as
--name, or it defaults to the file name. The test case is the prompt as HarmBench sent it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness._errors import DataError
from harness.ingest._raters import binary_verdict
from harness.ingest._registry import importer
from harness.ingest._types import (
    ImportBatch,
    ImportedAttempt,
    ImportOptions,
    RaterVerdict,
    Source,
    Tally,
)

__all__ = ["HarmBenchImporter"]

LABELS = {"label": "harmbench.classifier", "advbench_label": "harmbench.advbench"}


@importer("harmbench")
class HarmBenchImporter:
    name = "harmbench"
    expects = 'HarmBench completions/results JSON ({behavior_id: [{"test_case", "generation"}]})'

    def recognise(self, source: Source) -> bool:
        document = source.document
        if not isinstance(document, dict) or not document:
            return False
        first = next(iter(document.values()))
        return (
            isinstance(first, list)
            and bool(first)
            and isinstance(first[0], dict)
            and "generation" in first[0]
            and "test_case" in first[0]
        )

    def read(self, source: Source, options: ImportOptions) -> ImportBatch:
        document = source.document
        if not self.recognise(source):
            raise DataError(
                "not a HarmBench completions file: expected {behavior_id: [{test_case, "
                "generation}]}",
                file=source.location,
                fix="import the JSON generate_completions.py or evaluate_completions.py wrote",
            )
        tally = Tally("generations")
        model = options.model_name or Path(source.location).stem
        attempts: list[ImportedAttempt] = []
        raters: dict[str, str] = {}
        for behavior, entries in document.items():
            if not isinstance(entries, list):
                raise _bad(source, behavior, "the behavior's value is not a list")
            seen: dict[str, int] = {}
            distinct = len({e.get("test_case") for e in entries if isinstance(e, dict)})
            for k, entry in enumerate(entries):
                tally.read += 1
                test_case, generation = _fields(source, behavior, k, entry)
                sample = seen.get(test_case, 0)
                seen[test_case] = sample + 1
                verdicts = _verdicts(entry, options)
                raters.update({r: "HarmBench label" for r in verdicts})
                attempts.append(
                    ImportedAttempt(
                        item_id=behavior if distinct == 1 else f"{behavior}#{k}",
                        prompt=test_case,
                        response=generation,
                        model=model,
                        sample_index=sample if distinct == 1 else 0,
                        meta={"behavior_id": behavior},
                        raters=verdicts,
                    )
                )
        return ImportBatch(
            format=self.name,
            attempts=attempts,
            tally=tally,
            details={"tool": "HarmBench"},
            raters=raters,
        )


def _fields(source: Source, behavior: str, k: int, entry: Any) -> tuple[str, str]:
    if not isinstance(entry, dict):
        raise _bad(source, f"{behavior}[{k}]", "an entry is not an object")
    for key in ("test_case", "generation"):
        if not isinstance(entry.get(key), str):
            kind = "missing" if entry.get(key) is None else type(entry[key]).__name__
            raise _bad(source, f"{behavior}[{k}].{key}", f"{key} is {kind}, not text")
    return entry["test_case"], entry["generation"]


def _verdicts(entry: dict[str, Any], options: ImportOptions) -> dict[str, RaterVerdict]:
    verdicts = {}
    for key, rater in LABELS.items():
        if key not in entry:
            continue
        value = entry[key]
        decided = isinstance(value, int | float) and value in (0, 1)  # -1: unreadable
        verdicts[rater] = binary_verdict(
            rater,
            bool(value) if decided else None,
            value,
            options.label_map,
            rationale=f"HarmBench {key} = {value!r}",
            tool="HarmBench",
        )
    return verdicts


def _bad(source: Source, field: str, what: str) -> DataError:
    return DataError(
        what, file=source.location, field=field, fix="import the JSON HarmBench wrote, unedited"
    )
