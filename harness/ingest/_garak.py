"""garak's `report.jsonl`: evaluated attempts, one per prompt × generation.

garak writes each attempt twice: with `status` 1 when its outputs arrive, and again with
`status` 2 once the detectors have scored them. Only status 2 entries are read; status 0/1
entries and the `start_run setup`, `init`, `eval`, `completion` and `digest` entries are skipped
and counted. The probe (`probe_classname`) is the attack; each detector in `detector_results`
is a rater `garak.<detector>`, and the rater `garak` is garak's verdict on the output: a hit
if any detector hit, a pass if every detector passed. A detector score is garak's own: in
[0, 1], and garak's evaluator passes an output when the score is below
`run.eval_threshold` (0.5 by default; read from the report's set-up entry). A hit (score ≥
threshold: the detector found what the probe was after) is COMPLIANCE, a pass is REFUSAL (the
binary convention of the harness's own yes/no judges), no score (detector skipped, no output)
is UNPARSEABLE. A generation without an
output (garak records `null`) is an ERROR attempt. Both garak's present prompt shape (a
conversation of `turns`) and the older one (a string prompt, string outputs) are read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from harness._errors import DataError
from harness.grading import Label
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

__all__ = ["GarakImporter"]

ENTRY_TYPES = {"start_run setup", "init", "attempt", "eval", "completion", "digest"}
EVALUATED = 2
DEFAULT_THRESHOLD = 0.5


@importer("garak")
class GarakImporter:
    """garak's report JSONL (attempt entries and their detector results)."""

    name = "garak"
    expects = "garak report.jsonl (JSON Lines with entry_type: start_run setup, attempt, eval...)"

    def recognise(self, source: Source) -> bool:
        first = source.first_line
        return isinstance(first, dict) and first.get("entry_type") in ENTRY_TYPES

    def read(self, source: Source, options: ImportOptions) -> ImportBatch:
        entries = _entries(source)
        tally = Tally("entries")
        setup: dict[str, Any] = {}
        init: dict[str, Any] = {}
        attempts: list[ImportedAttempt] = []
        raters: dict[str, str] = {}
        seen: set[tuple[str, str] | None] = set()
        for number, entry in entries:
            tally.read += 1
            kind = entry.get("entry_type")
            if kind == "start_run setup":
                setup = entry
            elif kind == "init":
                init = entry
            if kind != "attempt":
                tally.skip(f"{kind or 'untyped'} entries")
                continue
            if entry.get("status") != EVALUATED:
                tally.skip(f"attempt entries with status {entry.get('status')} (not evaluated)")
                continue
            model = _model(setup)
            threshold = float(setup.get("run.eval_threshold") or DEFAULT_THRESHOLD)
            found = _attempts(entry, number, source.location, model, threshold, options)
            key = (found[0].attack, found[0].item_id) if found else None
            if key in seen:  # a probe that reuses a sequence number: the uuid tells them apart
                for attempt in found:
                    attempt.item_id = str(entry.get("uuid") or number)
            seen.add(key)
            for attempt in found:
                if attempt.status is Status.ERROR:
                    tally.note("generations without output imported as ERROR")
                raters.update(dict.fromkeys(attempt.raters, "garak detector"))
                attempts.append(attempt)
        return ImportBatch(
            format=self.name,
            attempts=attempts,
            tally=tally,
            run_name=str(setup.get("reporting.report_prefix") or "") or None,
            details={
                "tool": "garak",
                "version": init.get("garak_version") or setup.get("_config.version"),
                "run_id": init.get("run") or setup.get("transient.run_id"),
                "target": _model(setup),
            },
            raters=raters,
        )


def _entries(source: Source) -> list[tuple[int, dict[str, Any]]]:
    entries = []
    for number, line in enumerate((source.text or "").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            raise DataError(
                f"line {number} is not JSON (a report cut short?)",
                file=source.location,
                fix="import the complete report.jsonl garak wrote",
            ) from None
        if not isinstance(entry, dict):
            raise DataError(
                f"line {number} is not a JSON object",
                file=source.location,
                fix="import the report.jsonl garak wrote",
            )
        entries.append((number, entry))
    return entries


def _model(setup: Mapping[str, Any]) -> str:
    # garak ≥ 0.10 says target_*, earlier versions model_*
    for kind, name in (
        ("plugins.target_type", "plugins.target_name"),
        ("plugins.model_type", "plugins.model_name"),
    ):
        if setup.get(kind) or setup.get(name):
            return "/".join(str(p) for p in (setup.get(kind), setup.get(name)) if p)
    return "garak-target"


def _attempts(
    entry: Mapping[str, Any],
    number: int,
    location: str,
    model: str,
    threshold: float,
    options: ImportOptions,
) -> list[ImportedAttempt]:
    def bad(field: str, what: str) -> DataError:
        return DataError(
            f"line {number}: {what}",
            file=location,
            field=field,
            fix="import the report.jsonl garak wrote, unedited",
        )

    messages, system = _conversation(entry.get("prompt"), bad)
    prompt = next((m["content"] for m in reversed(messages) if m["role"] == "user"), None)
    if prompt is None:
        raise bad("prompt", "the attempt has no user turn")
    outputs = entry.get("outputs")
    if not isinstance(outputs, list):
        raise bad("outputs", "outputs is not a list")
    results = entry.get("detector_results") or {}
    if not isinstance(results, dict):
        raise bad("detector_results", "detector_results is not an object")
    probe = str(entry.get("probe_classname") or "garak")
    seq = entry.get("seq")
    item_id = str(seq) if seq is not None else str(entry.get("uuid") or number)
    attempts = []
    for generation, output in enumerate(outputs):
        text = _text(output, bad, f"outputs[{generation}]")
        verdicts: dict[str, RaterVerdict] = {}
        for detector, scores in results.items():
            if not isinstance(scores, list):
                raise bad(f"detector_results.{detector}", "the scores are not a list")
            score = scores[generation] if generation < len(scores) else None
            if score is not None and not isinstance(score, int | float):
                raise bad(f"detector_results.{detector}", f"score {score!r} is not a number")
            rater = rater_name("garak", detector)
            verdicts[rater] = binary_verdict(
                rater,
                None if score is None else score >= threshold,
                score,
                options.label_map,
                score=None if score is None else float(score),
                rationale=f"garak detector {detector}: score {score} (threshold {threshold})",
                tool="garak",
            )
        if verdicts:
            verdicts = {"garak": _any_hit(verdicts), **verdicts}
        attempts.append(
            ImportedAttempt(
                item_id=item_id,
                prompt=prompt,
                response=text,
                model=model,
                messages=[*messages, {"role": "assistant", "content": text or ""}],
                system_prompt=system,
                attack=probe,
                sample_index=generation,
                status=Status.OK if text is not None else Status.ERROR,
                error=None if text is not None else "garak recorded no output for this generation",
                error_kind=None if text is not None else "no_output",
                meta={
                    "garak_uuid": entry.get("uuid"),
                    "goal": entry.get("goal"),
                    "probe_params": entry.get("probe_params"),
                    "triggers": (entry.get("notes") or {}).get("triggers"),
                },
                raters=verdicts if text is not None else {},
            )
        )
    return attempts


def _any_hit(verdicts: Mapping[str, RaterVerdict]) -> RaterVerdict:
    """garak's verdict on the output: a hit if any detector hit, a pass if all passed."""
    labels = [v.label for v in verdicts.values()]
    names = ", ".join(r.removeprefix("garak.") for r in verdicts)
    if Label.COMPLIANCE in labels:
        label = Label.COMPLIANCE
    elif all(label is Label.REFUSAL for label in labels):
        label = Label.REFUSAL
    else:
        return RaterVerdict(
            Label.UNPARSEABLE, None, error=f"no detector hit and some did not score ({names})"
        )
    hits = [r.removeprefix("garak.") for r, v in verdicts.items() if v.label is Label.COMPLIANCE]
    rationale = f"hit by {', '.join(hits)}" if hits else f"passed {names}"
    return RaterVerdict(label, "hit" if hits else "pass", rationale=rationale)


def _conversation(prompt: Any, bad: Any) -> tuple[list[dict[str, Any]], str | None]:
    """The prompt's turns as chat messages, and its system turn (the deployment's prompt)."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}], None
    if not isinstance(prompt, dict) or not isinstance(prompt.get("turns"), list):
        raise bad("prompt", "the prompt is neither text nor a conversation of turns")
    messages = []
    for i, turn in enumerate(prompt["turns"]):
        if not isinstance(turn, dict) or not isinstance(turn.get("role"), str):
            raise bad(f"prompt.turns[{i}]", "a turn has no role")
        text = _text(turn.get("content"), bad, f"prompt.turns[{i}].content")
        messages.append({"role": turn["role"], "content": text or ""})
    system = next((m["content"] for m in messages if m["role"] == "system"), None)
    return messages, system


def _text(value: Any, bad: Any, field: str) -> str | None:
    """garak's Message ({"text": ...}) or, before 0.10, a plain string; None stays None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict) and (value.get("text") is None or isinstance(value["text"], str)):
        return value.get("text")
    raise bad(field, "is neither text nor a garak message with text")
