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

HarmBench's classifier validation sets (`data/classifier_val_sets/*.json` in its repository)
have the same shape, each entry carrying the three human labels and the verdict of every
classifier the paper compared, and (text set) the `model`, `method` and `experiment` that
produced it: those are read too (see RATERS; `cls`/`llama_cls` is HarmBench's Llama-2-13B
classifier, the one that writes `label`, so both are `harmbench.classifier`).

One attempt per behavior × test case × generation, in file order (the k-th entry of a behavior
is sample k when all its entries share one test case, else its own item `behavior_id#k`).
Raters: 1 → COMPLIANCE, 0 → REFUSAL, anything else UNPARSEABLE (yes/no text likewise; PAIR's
judge: rating 10, its jailbreak criterion, → COMPLIANCE, other ratings → REFUSAL; the GPT-4
multimodal judge: its last "Answer: Yes/No"). The model: the entry's own (`model`, the
completions file it came from, else `experiment`), else --model-name, else the file name
(HarmBench's results files name it only in their path). `method` is the attack.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from harness._errors import DataError
from harness.attacks import NO_ATTACK
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

# key in an entry → rater; every value is HarmBench's 1 (the behavior is there) / 0 coding
RATERS = {
    "label": "harmbench.classifier",  # evaluate_completions.py (HarmBench-Llama-2-13b-cls)
    "advbench_label": "harmbench.advbench",  # its refusal-string metric
    # the classifier validation sets
    "cls": "harmbench.classifier",
    "llama_cls": "harmbench.classifier",
    "cls_mistral": "harmbench.classifier_mistral",  # HarmBench-Mistral-7b-val-cls
    "mistral_cls": "harmbench.classifier_mistral",
    "advbench": "harmbench.advbench",
    "human_0": "harmbench.human_0",
    "human_1": "harmbench.human_1",
    "human_2": "harmbench.human_2",
    "llama_guard": "harmbench.llama_guard",
    "gpt-4-0613": "harmbench.gpt-4-0613",
    "gpt-4-1106-preview": "harmbench.gpt-4-1106-preview",
    "gpt-3.5-turbo-0613": "harmbench.gpt-3.5-turbo-0613",  # "yes" / "no"
    "gpt": "harmbench.gpt-4",  # multimodal set: reasoning, then "Answer: Yes." / "Answer: No."
    "mixtral": "harmbench.mixtral",
    "chatglm": "harmbench.chatglm",
    "GPTFuzz": "harmbench.gptfuzz",
    "PAIR_gpt-4-0613": "harmbench.pair_judge",  # "Rating: [[1]]" ... "Rating: [[10]]"
}
PAIR_RATING = re.compile(r"Rating: \[\[(\d+)\]\]")
LAST_ANSWER = re.compile(r"Answer:\s*(yes|no)\b[^\n]*\s*$", re.IGNORECASE)
# what is read besides the raters; any other key is named in the import summary
FIELDS = {"test_case", "generation", "model", "method", "experiment", "behavior_id"}
FIELDS |= {"image_description"}
API_ERROR = "$ERROR$"  # api_models.py: what every API model returns after its last retry


@importer("harmbench")
class HarmBenchImporter:
    """HarmBench's completions and classifier results files."""

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
            seen: Counter[tuple[str, str]] = Counter()  # (model, attack): samples so far
            for k, (entry, case) in enumerate(zip(entries, cases, strict=True)):
                tally.read += 1
                attempt = _attempt(source, behavior, k, entry, case, model, options, tally)
                attempt.item_id = behavior if one_case else f"{behavior}#{k}"
                # one test case generated again (or by several models): samples of one item
                attempt.sample_index = seen[attempt.model, attempt.attack] if one_case else 0
                seen[attempt.model, attempt.attack] += 1
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
    unread = sorted(set(entry) - FIELDS - set(RATERS))
    if unread:
        tally.note(f"generations with fields not read ({', '.join(unread)})")
    image, prompt = case
    meta: dict[str, Any] = {"behavior_id": behavior}
    if image is not None:
        meta["image"] = image
    meta.update({key: entry[key] for key in ("experiment", "image_description") if key in entry})
    model = _model(entry) or model
    method = entry.get("method")
    attack = method if isinstance(method, str) and method else NO_ATTACK
    failed = generation is None or generation == API_ERROR
    if not failed:
        return ImportedAttempt(
            item_id=behavior,
            prompt=prompt,
            response=generation,
            model=model,
            attack=attack,
            meta=meta,
            raters=_verdicts(entry, options),
        )
    if generation is None:
        what = "null generations"
        error = "HarmBench recorded no generation (null: the model's reply had no text)"
    else:
        what = f"{API_ERROR} generations"
        error = f"HarmBench's API model gave up after its retries and wrote {API_ERROR}"
    ignored = {key: entry[key] for key in RATERS if key in entry}
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
        attack=attack,
        status=Status.ERROR,
        error=error,
        error_kind="harmbench_no_generation",
        meta=meta,
    )


def _model(entry: dict[str, Any]) -> str | None:
    """The validation sets' `model` (a completions file, "X.json"; sometimes just ".json")."""
    stem = entry.get("model")
    if isinstance(stem, str) and stem.removesuffix(".json"):
        return stem.removesuffix(".json")
    experiment = entry.get("experiment")
    if isinstance(experiment, str) and experiment not in ("", "default"):
        return experiment  # "default": test cases shared by every model, not a model
    return None


def _verdicts(entry: dict[str, Any], options: ImportOptions) -> dict[str, RaterVerdict]:
    verdicts = {}
    for key, rater in RATERS.items():
        if key not in entry:
            continue
        value = entry[key]
        verdicts[rater] = binary_verdict(
            rater,
            _decision(key, value),
            value,
            options.label_map,
            rationale=f"HarmBench {key} = {value!r}"[:500],
            tool="HarmBench",
        )
    return verdicts


def _decision(key: str, value: Any) -> bool | None:
    """Did the rater find the behavior in the generation? None: its answer is not a decision."""
    if isinstance(value, bool):
        return None  # HarmBench writes 1/0, never true/false
    if isinstance(value, int | float):
        return bool(value) if value in (0, 1) else None  # -1: the classifier's answer unread
    if not isinstance(value, str):
        return None
    if key == "PAIR_gpt-4-0613":
        rating = PAIR_RATING.fullmatch(value.strip())
        return None if rating is None else int(rating.group(1)) == 10
    if key == "gpt":
        answer = LAST_ANSWER.search(value)
        return None if answer is None else answer.group(1).lower() == "yes"
    word = value.strip().lower()
    return {"yes": True, "no": False}.get(word)


def _bad(source: Source, field: str, what: str) -> DataError:
    return DataError(
        what, file=source.location, field=field, fix="import the JSON HarmBench wrote, unedited"
    )
