"""HarmBench's completions and results files (`generate_completions.py`, `evaluate_completions.py`).

Both are one JSON object: behavior id → a list of `{"test_case": ..., "generation": ...}` in the
order of the test cases; the results file adds the classifier's `label` (1: the generation is
an instance of the behavior, 0: it is not, -1: the classifier's answer was neither yes nor no;
copyright behaviors are labelled by HarmBench's MinHash match instead, 1/0) and, when asked
for, the AdvBench refusal-string `advbench_label` (1: no refusal phrase found, 0: found).
What HarmBench's own files taught (tests/data/import/harmbench/, written by its code):

- a multimodal test case is `[image file name, text]`: the text is the prompt, the image file
  is kept in the attempt's metadata;
- an API model that failed all its retries leaves the placeholder generation `$ERROR$`, which
  the evaluation then labels like any text (its refusal-string label says "jailbroken"): it is
  imported as an ERROR attempt and those labels are not taken (counted in the import summary);
  a generation recorded as null (an API reply without text) is an ERROR attempt too;
- the results file's generation is the completions file's clipped to the classifier's first
  512 tokens; behaviors missing from the behaviors CSV are left out of it.

One attempt per behavior × test case × generation, in file order (the k-th entry of a behavior
is sample k when all its entries share one test case, else its own item `behavior_id#k`).
Raters: `harmbench.classifier` (`label`) and `harmbench.advbench` (`advbench_label`): 1 →
COMPLIANCE, 0 → REFUSAL, anything else UNPARSEABLE. The model is not in the file (HarmBench
names it in the file's path): pass it as --model-name, or it defaults to the file name.
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
from harness.store import Status

__all__ = ["HarmBenchImporter"]

LABELS = {"label": "harmbench.classifier", "advbench_label": "harmbench.advbench"}
API_ERROR = "$ERROR$"  # api_models.py: what every API model returns after its last retry


@importer("harmbench")
class HarmBenchImporter:
    name = "harmbench"
    expects = 'HarmBench completions/results JSON ({behavior_id: [{"test_case", "generation"}]})'

    def recognise(self, source: Source) -> bool:
        document = source.document
        if not isinstance(document, dict) or not document:
            return False
        if not all(isinstance(entries, list) for entries in document.values()):
            return False
        first = next((entries[0] for entries in document.values() if entries), None)
        return isinstance(first, dict) and "generation" in first and "test_case" in first

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
            cases = [_test_case(source, behavior, k, entry) for k, entry in enumerate(entries)]
            one_case = len({(image, text) for image, text in cases}) == 1
            seen: dict[tuple[str | None, str], int] = {}
            for k, (entry, case) in enumerate(zip(entries, cases, strict=True)):
                tally.read += 1
                sample = seen.get(case, 0)
                seen[case] = sample + 1
                attempt = _attempt(source, behavior, k, entry, case, model, options, tally)
                attempt.item_id = behavior if one_case else f"{behavior}#{k}"
                attempt.sample_index = sample if one_case else 0
                raters.update({r: "HarmBench label" for r in attempt.raters})
                attempts.append(attempt)
        return ImportBatch(
            format=self.name,
            attempts=attempts,
            tally=tally,
            details={"tool": "HarmBench"},
            raters=raters,
        )


def _test_case(source: Source, behavior: str, k: int, entry: Any) -> tuple[str | None, str]:
    """(image file or None, text): multimodal test cases are [image file, text]."""
    if not isinstance(entry, dict):
        raise _bad(source, f"{behavior}[{k}]", "an entry is not an object")
    case = entry.get("test_case")
    if isinstance(case, str):
        return None, case
    if isinstance(case, list) and len(case) == 2 and all(isinstance(c, str) for c in case):
        return case[0], case[1]
    kind = "missing" if case is None else type(case).__name__
    raise _bad(
        source,
        f"{behavior}[{k}].test_case",
        f"test_case is {kind}, not text nor [image file, text]",
    )


def _attempt(
    source: Source,
    behavior: str,
    k: int,
    entry: dict[str, Any],
    case: tuple[str | None, str],
    model: str,
    options: ImportOptions,
    tally: Tally,
) -> ImportedAttempt:
    if "generation" not in entry:
        raise _bad(source, f"{behavior}[{k}].generation", "generation is missing")
    generation = entry["generation"]
    if generation is not None and not isinstance(generation, str):
        kind = type(generation).__name__
        raise _bad(source, f"{behavior}[{k}].generation", f"generation is {kind}, not text")
    image, prompt = case
    meta: dict[str, Any] = {"behavior_id": behavior}
    if image is not None:
        meta["image"] = image
    failed = generation is None or generation == API_ERROR
    if not failed:
        return ImportedAttempt(
            item_id=behavior,
            prompt=prompt,
            response=generation,
            model=model,
            meta=meta,
            raters=_verdicts(entry, options),
        )
    if generation is None:
        what = "null generations"
        error = "HarmBench recorded no generation (null: the model's reply had no text)"
    else:
        what = f"{API_ERROR} generations"
        error = f"HarmBench's API model gave up after its retries and wrote {API_ERROR}"
    ignored = {key: entry[key] for key in LABELS if key in entry}
    if ignored:
        # HarmBench labels its placeholder like any text; a failed request is not a verdict
        what += " (their labels not taken)"
        meta["labels_not_taken"] = ignored
    tally.note(f"{what} imported as ERROR")
    return ImportedAttempt(
        item_id=behavior,
        prompt=prompt,
        response=None,
        model=model,
        status=Status.ERROR,
        error=error,
        error_kind="harmbench_no_generation",
        meta=meta,
    )


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
