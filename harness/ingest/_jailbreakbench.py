"""JailbreakBench artifacts (`jailbreakbench.read_artifact`, the JailbreakBench/artifacts repo).

One JSON object: `parameters` (method, model, attack type, defense...) and `jailbreaks`, one
entry per behavior with `goal`, `behavior`, `category`, the jailbreak `prompt` the attack
submitted, the target's `response` and `jailbroken` (JailbreakBench's judge). An entry whose
`prompt` is null (the attack found no prompt to submit) has no reply to grade: it is skipped
and counted. JailbreakBench's own attack success rate counts those behaviors as not jailbroken
(over all 100 behaviors); rates here are over the prompts submitted. The attack
method is the attack, the model the model, `defense` (when set) the deployment. Raters:
`jailbreakbench.judge` (`jailbroken`) and one `jailbreakbench.<name>` per other
`jailbroken_<name>` field (e.g. `jailbroken_llama_guard1`): true → COMPLIANCE, false →
REFUSAL, null → UNPARSEABLE. Items are the behaviors (`index`), categorised by `category`.
"""

from __future__ import annotations

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

__all__ = ["JailbreakBenchImporter"]


@importer("jailbreakbench")
class JailbreakBenchImporter:
    """JailbreakBench's artifact files (prompts, responses, jailbroken judgements)."""

    name = "jailbreakbench"
    expects = "JailbreakBench artifact JSON ({parameters: {method, model}, jailbreaks: [...]})"

    def recognise(self, source: Source) -> bool:
        document = source.document
        return (
            isinstance(document, dict)
            and isinstance(document.get("parameters"), dict)
            and isinstance(document.get("jailbreaks"), list)
        )

    def read(self, source: Source, options: ImportOptions) -> ImportBatch:
        if not self.recognise(source):
            raise DataError(
                "not a JailbreakBench artifact: expected {parameters, jailbreaks}",
                file=source.location,
                fix="import the artifact JSON JailbreakBench wrote",
            )
        document = source.document
        parameters = document["parameters"]
        model = parameters.get("model")
        if not isinstance(model, str) or not model:
            raise _bad(source, "parameters.model", "the model is missing")
        method = str(parameters.get("method") or "none")
        defense = parameters.get("defense")
        tally = Tally("jailbreaks")
        attempts: list[ImportedAttempt] = []
        raters: dict[str, str] = {}
        for k, entry in enumerate(document["jailbreaks"]):
            tally.read += 1
            if not isinstance(entry, dict):
                raise _bad(source, f"jailbreaks[{k}]", "an entry is not an object")
            if entry.get("prompt") is None:
                tally.skip("jailbreaks without a submitted prompt")
                continue
            for key in ("prompt", "response"):
                if not isinstance(entry.get(key), str):
                    kind = "missing" if entry.get(key) is None else type(entry[key]).__name__
                    raise _bad(source, f"jailbreaks[{k}].{key}", f"{key} is {kind}, not text")
            verdicts = _verdicts(entry, options)
            raters.update({r: "JailbreakBench judge" for r in verdicts})
            attempts.append(
                ImportedAttempt(
                    item_id=str(entry.get("index", k)),
                    prompt=entry["prompt"],
                    response=entry["response"],
                    model=model,
                    deployment=str(defense) if defense else None,
                    configuration=f"{model}/{defense}" if defense else model,
                    attack=method,
                    category=entry.get("category"),
                    prompt_tokens=entry.get("prompt_tokens"),
                    completion_tokens=entry.get("response_tokens"),
                    meta={
                        "goal": entry.get("goal"),
                        "behavior": entry.get("behavior"),
                        "number_of_queries": entry.get("number_of_queries"),
                        "queries_to_jailbreak": entry.get("queries_to_jailbreak"),
                    },
                    raters=verdicts,
                )
            )
        return ImportBatch(
            format=self.name,
            attempts=attempts,
            tally=tally,
            run_name=f"jbb-{method}-{model}",
            details={"tool": "JailbreakBench", "parameters": parameters},
            raters=raters,
        )


def _verdicts(entry: dict[str, Any], options: ImportOptions) -> dict[str, RaterVerdict]:
    verdicts = {}
    for key, value in entry.items():
        if key != "jailbroken" and not key.startswith("jailbroken_"):
            continue
        rater = rater_name("jailbreakbench", key.removeprefix("jailbroken_") or "judge")
        if key == "jailbroken":
            rater = "jailbreakbench.judge"
        verdicts[rater] = binary_verdict(
            rater,
            value if isinstance(value, bool) else None,
            value,
            options.label_map,
            rationale=f"JailbreakBench {key} = {value!r}",
            tool="JailbreakBench",
        )
    return verdicts


def _bad(source: Source, field: str, what: str) -> DataError:
    return DataError(
        what, file=source.location, field=field, fix="import the artifact JailbreakBench wrote"
    )
