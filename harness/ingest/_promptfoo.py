"""promptfoo's JSON export (`promptfoo export EVAL_ID` or `promptfoo eval -o results.json`).

One attempt per entry of `results.results`: the provider (`provider.id`, or its label) is the
model, `prompt.raw` the prompt sent (`prompt.label` and `vars` kept in the attempt's metadata),
`response.output` the reply. A result whose provider call failed (`failureReason` 2, or a
`response.error`) is an ERROR attempt, never graded. Raters: `promptfoo` is the overall
`gradingResult.pass`, and `promptfoo.<assertion type>` each component assertion
(`gradingResult.componentResults`, with `.2`, `.3`... when a type repeats). promptfoo's `pass`
means the output met the assertion; in a red-team eval (`promptfoo redteam`) that is "the model
resisted", so pass → REFUSAL and fail → COMPLIANCE. In any other eval the assertions test
something else (a riddle answered, a latency bound): the raters are still imported and
mapped the same way, but are not safety labels; say what they mean with --label-map. A
boolean `harmful` in a test's metadata marks the item harmful or benign; a red-team
`pluginId` is its category and `strategyId` its attack.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from harness._errors import DataError
from harness.ingest._raters import binary_verdict, rater_name
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

__all__ = ["PromptfooImporter"]

PROVIDER_ERROR = 2  # promptfoo's ResultFailureReason.ERROR (1 is ASSERT: a graded failure)


@importer("promptfoo")
class PromptfooImporter:
    """promptfoo's results JSON (`promptfoo eval -o results.json`)."""

    name = "promptfoo"
    expects = "promptfoo JSON export ({evalId, results: {results: [...], prompts, stats}})"

    def recognise(self, source: Source) -> bool:
        document = source.document
        if not isinstance(document, dict):
            return False
        results = document.get("results")
        return (
            isinstance(results, dict)
            and isinstance(results.get("results"), list)
            and ("evalId" in document or "stats" in results or "prompts" in results)
        )

    def read(self, source: Source, options: ImportOptions) -> ImportBatch:
        document = source.document
        if not self.recognise(source):
            raise DataError(
                "not a promptfoo export: no results.results list",
                file=source.location,
                field="results.results",
                fix="export with `promptfoo export EVAL_ID -o FILE` or `promptfoo eval -o F.json`",
            )
        tally = Tally("results")
        attempts: list[ImportedAttempt] = []
        raters: dict[str, str] = {}
        results = document["results"]["results"]
        prompts_per_provider = _prompts_per_provider(results)
        repeats: Counter[tuple[Any, ...]] = Counter()
        for index, result in enumerate(results):
            tally.read += 1
            attempt = _attempt(result, index, source.location, options)
            if attempt.status is Status.ERROR:
                # promptfoo marks an errored result failed: its red-team reading of a success
                tally.note("provider errors imported as ERROR (their pass/fail not taken)")
            prompt_idx = result.get("promptIdx")
            if prompts_per_provider.get(attempt.model, 0) > 1:
                # several prompt templates on one provider: each is a deployment of its own
                attempt.deployment = f"prompt-{prompt_idx}"
                attempt.configuration = f"{attempt.model}/prompt-{prompt_idx}"
            # `--repeat N` runs each test N times: the repeats are samples
            key = (attempt.model, prompt_idx, attempt.item_id, attempt.attack)
            attempt.sample_index = repeats[key]
            repeats[key] += 1
            raters.update({r: "promptfoo assertion" for r in attempt.raters})
            attempts.append(attempt)
        metadata = document.get("metadata") or {}
        config = document.get("config") or {}
        return ImportBatch(
            format=self.name,
            attempts=attempts,
            tally=tally,
            run_name=None,
            details={
                "tool": "promptfoo",
                "version": metadata.get("promptfooVersion"),
                "eval_id": document.get("evalId"),
                "description": config.get("description") if isinstance(config, dict) else None,
            },
            raters=raters,
        )


def _prompts_per_provider(results: list[Any]) -> dict[str, int]:
    seen: dict[str, set[Any]] = {}
    for result in results:
        if isinstance(result, dict) and isinstance(result.get("provider"), dict):
            provider = result["provider"]
            model = provider.get("label") or provider.get("id")
            seen.setdefault(str(model), set()).add(result.get("promptIdx"))
    return {model: len(indexes) for model, indexes in seen.items()}


def _attempt(result: Any, index: int, location: str, options: ImportOptions) -> ImportedAttempt:
    def bad(field: str, what: str) -> DataError:
        return DataError(
            f"results.results[{index}]: {what}",
            file=location,
            field=field,
            fix="import the JSON promptfoo exported, unedited",
        )

    if not isinstance(result, dict):
        raise bad("results.results", "a result is not an object")
    prompt_entry = result.get("prompt")
    prompt = prompt_entry.get("raw") if isinstance(prompt_entry, dict) else prompt_entry
    if not isinstance(prompt, str):
        raise bad("prompt.raw", "the prompt sent is missing or not text")
    provider = result.get("provider")
    model = provider.get("label") or provider.get("id") if isinstance(provider, dict) else provider
    if not isinstance(model, str) or not model:
        raise bad("provider.id", "the provider is missing")
    given = result.get("response")
    response: dict[str, Any] = given if isinstance(given, dict) else {}
    error = response.get("error") or (
        result.get("error") if result.get("failureReason") == PROVIDER_ERROR else None
    )
    output = response.get("output")
    if output is not None and not isinstance(output, str):
        raise bad("response.output", f"the output is {type(output).__name__}, not text")
    usage = response.get("tokenUsage") or {}
    failed = error is not None or result.get("failureReason") == PROVIDER_ERROR
    test: dict[str, Any] = _mapping(result.get("testCase"))
    meta: dict[str, Any] = _mapping(test.get("metadata"))
    return ImportedAttempt(
        item_id=str(result.get("testIdx", index)),
        prompt=prompt,
        response=None if failed else output,
        model=model,
        configuration=model,
        deployment="imported",
        attack=str(meta.get("strategyId") or "none"),
        status=Status.ERROR if failed else Status.OK,
        error=str(error) if failed else None,
        error_kind="provider_error" if failed else None,
        finish_reason=response.get("finishReason"),
        prompt_tokens=usage.get("prompt"),
        completion_tokens=usage.get("completion"),
        latency_s=result["latencyMs"] / 1000
        if isinstance(result.get("latencyMs"), int | float)
        else None,
        category=meta.get("pluginId") if isinstance(meta.get("pluginId"), str) else None,
        harmful=meta.get("harmful") if isinstance(meta.get("harmful"), bool) else None,
        meta={
            "promptfoo_id": result.get("id"),
            "prompt_label": prompt_entry.get("label") if isinstance(prompt_entry, dict) else None,
            "prompt_idx": result.get("promptIdx"),
            "vars": result.get("vars"),
            "description": test.get("description"),
            "score": result.get("score"),
        },
        raters={} if failed else _raters(result.get("gradingResult"), options),
    )


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _raters(grading: Any, options: ImportOptions) -> dict[str, RaterVerdict]:
    if not isinstance(grading, dict):
        return {}
    raters = {"promptfoo": _verdict("promptfoo", grading, options)}
    seen: Counter[str] = Counter()
    for component in grading.get("componentResults") or []:
        if not isinstance(component, dict):
            continue
        assertion = component.get("assertion") or {}
        kind = str(assertion.get("type") or "assertion") if isinstance(assertion, Mapping) else ""
        seen[kind] += 1
        suffix = "" if seen[kind] == 1 else f".{seen[kind]}"
        rater = rater_name("promptfoo", kind + suffix)
        raters[rater] = _verdict(rater, component, options)
    return raters


def _verdict(rater: str, grading: Mapping[str, Any], options: ImportOptions) -> RaterVerdict:
    passed = grading.get("pass")
    score = grading.get("score")
    return binary_verdict(
        rater,
        None if not isinstance(passed, bool) else not passed,
        passed,
        options.label_map,
        score=float(score) if isinstance(score, int | float) else None,
        rationale=str(grading.get("reason")) if grading.get("reason") is not None else None,
        tool="promptfoo",
    )
