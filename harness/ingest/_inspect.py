"""Inspect AI logs: `.eval` (a zip of JSON, Inspect's default) and `.json` (`--log-format json`).

Read with this module's own reader of the documented log structure (`EvalLog`: `eval`,
`plan`, `results`, `samples`; in a `.eval`, `header.json` or `_journal/start.json` and one
`samples/<id>_epoch_<n>.json` per sample × epoch), not with `inspect_ai`: importing a log must
not need the tool that wrote it, its dependency tree, or its version. Members compressed with
Zstandard (what recent Inspect writes) are decompressed with `zstandard`; deflated ones with
the standard library. `attachment://` references are resolved from the sample's attachments.

One attempt per sample × epoch (epoch n is sample n-1): the input (the last user message when
the input is a conversation), the whole conversation in `messages`, the system message kept as
the configuration's system prompt (its deployment is named after it), the final completion,
the tool calls with their results, the target model's token usage, and the sample metadata
(a boolean `harmful` and a string `category` there are used as such). A sample that ended in
an error is an ERROR attempt. Each scorer is a rater `inspect.<scorer>`. Inspect's values mean
what the task's scorer makes them mean (`C`/`I` from `includes()` say whether the target text
was found, nothing about safety), so only values that are taxonomy words (REFUSAL,
COMPLIANCE...) map without help; map the others with --label-map, e.g.
`{"inspect.includes": {"C": "REFUSAL", "I": "COMPLIANCE"}}`. Unmapped values and unscored
samples (NaN) are UNPARSEABLE.
"""

from __future__ import annotations

import io
import json
import math
import struct
import zipfile
from collections.abc import Iterator
from typing import Any

from harness._errors import DataError
from harness.ingest._raters import mapped_verdict, rater_name
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

__all__ = ["InspectImporter"]

ATTACHMENT = "attachment://"
ZSTD = 93  # the zip compression method number of Zstandard
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # a zip member's local file header
FIX = "import the log Inspect wrote (inspect log dump / .eval), unedited"


@importer("inspect")
class InspectImporter:
    """Inspect AI logs (.eval or .json): samples, their scores and model usage."""

    name = "inspect"
    expects = "Inspect AI log (.eval zip with header.json, or JSON {version, eval, samples})"

    def recognise(self, source: Source) -> bool:
        if source.head.startswith(b"PK\x03\x04"):
            # the first member's name is in its local header, readable even when the zip was
            # cut short and has no central directory: then `read` says so
            fields = _LOCAL_HEADER.unpack_from(source.head) if len(source.head) >= 30 else None
            name = source.head[30 : 30 + fields[-2]] if fields else b""
            if name in (b"_journal/start.json", b"header.json") or name.startswith(b"samples/"):
                return True
        if source.is_zip:
            try:
                with zipfile.ZipFile(source.path) as archive:
                    names = set(archive.namelist())
            except zipfile.BadZipFile:
                return False
            return "header.json" in names or "_journal/start.json" in names
        document = source.document
        return (
            isinstance(document, dict)
            and isinstance(document.get("eval"), dict)
            and "task" in document["eval"]
            and "version" in document
        )

    def read(self, source: Source, options: ImportOptions) -> ImportBatch:
        if source.head.startswith(b"PK"):
            header, samples = _read_eval(source)
        elif isinstance(source.document, dict) and isinstance(source.document.get("eval"), dict):
            header = source.document
            samples = iter(header.get("samples") or [])
        else:
            raise DataError(
                "not an Inspect log: neither a .eval zip nor JSON with an `eval` object",
                file=source.location,
                fix=FIX,
            )
        spec = header.get("eval")
        if not isinstance(spec, dict) or not isinstance(spec.get("model"), str):
            raise DataError(
                "the log names no model", file=source.location, field="eval.model", fix=FIX
            )
        tally = Tally("samples")
        attempts: list[ImportedAttempt] = []
        raters: dict[str, str] = {}
        for sample in samples:
            tally.read += 1
            attempt = _attempt(sample, spec["model"], source.location, options)
            if attempt.status is Status.ERROR:
                dropped = " (their scores not taken)" if sample.get("scores") else ""
                tally.note(f"sample errors imported as ERROR{dropped}")
            raters.update({r: "Inspect scorer" for r in attempt.raters})
            attempts.append(attempt)
        if not attempts:
            raise DataError(
                "the log holds no samples (written with --no-log-samples?)",
                file=source.location,
                field="samples",
                fix="re-run the task with samples logged, or import another log",
            )
        return ImportBatch(
            format=self.name,
            attempts=attempts,
            tally=tally,
            run_name=str(spec.get("task") or "") or None,
            details={
                "tool": "inspect_ai",
                "version": (spec.get("packages") or {}).get("inspect_ai"),
                "log_version": header.get("version"),
                "status": header.get("status"),
                "task": spec.get("task"),
                "eval_id": spec.get("eval_id"),
                "run_id": spec.get("run_id"),
            },
            raters=raters,
        )


def _read_eval(source: Source) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    try:
        archive = zipfile.ZipFile(source.path)
        names = archive.namelist()
        first = "header.json" if "header.json" in names else "_journal/start.json"
        if first not in names:
            raise DataError(
                "the .eval zip has neither header.json nor _journal/start.json",
                file=source.location,
                fix=FIX,
            )
        header = _member(archive, first, source)
        # read them all now: a broken member fails the import before anything is written
        samples = [
            _member(archive, name, source)
            for name in names
            if name.startswith("samples/") and name.endswith(".json")
        ]
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise DataError(
            f"the .eval zip cannot be read ({exc}): a log cut short?",
            file=source.location,
            fix=FIX,
        ) from None
    return header, iter(samples)


def _member(archive: zipfile.ZipFile, name: str, source: Source) -> dict[str, Any]:
    info = archive.getinfo(name)
    try:
        data = _zstd_member(archive, info) if info.compress_type == ZSTD else archive.read(info)
        content = json.loads(data)
    except (ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(
            f"member {name} cannot be read ({_first_line(exc)})",
            file=source.location,
            field=name,
            fix=FIX,
        ) from None
    if not isinstance(content, dict):
        raise DataError(f"member {name} is not a JSON object", file=source.location, fix=FIX)
    return content


def _zstd_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A Zstandard member (Python's zipfile reads only stored, deflate, bzip2 and lzma)."""
    import zstandard

    handle = archive.fp
    if handle is None:
        raise zipfile.BadZipFile("the archive is closed")
    handle.seek(info.header_offset)
    header = handle.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local header for {info.filename}")
    fields = _LOCAL_HEADER.unpack(header)
    name_length, extra_length = fields[-2], fields[-1]
    handle.seek(info.header_offset + _LOCAL_HEADER.size + name_length + extra_length)
    compressed = handle.read(info.compress_size)
    if len(compressed) != info.compress_size:
        raise zipfile.BadZipFile(f"{info.filename} is cut short")
    reader = zstandard.ZstdDecompressor().stream_reader(
        io.BytesIO(compressed), read_across_frames=True
    )
    try:
        data = reader.read()
    except zstandard.ZstdError as exc:
        raise zipfile.BadZipFile(f"{info.filename}: {exc}") from None
    if len(data) != info.file_size:
        raise zipfile.BadZipFile(f"{info.filename} decompressed to the wrong size")
    return data


def _attempt(sample: Any, model: str, location: str, options: ImportOptions) -> ImportedAttempt:
    if not isinstance(sample, dict) or "id" not in sample:
        raise DataError("a sample has no id", file=location, field="samples", fix=FIX)
    where = f"sample {sample['id']} epoch {sample.get('epoch')}"

    def bad(field: str, what: str) -> DataError:
        return DataError(f"{where}: {what}", file=location, field=field, fix=FIX)

    sample = _resolve(sample, sample.get("attachments") or {})
    epoch = sample.get("epoch", 1)
    if not isinstance(epoch, int) or epoch < 1:
        raise bad("epoch", f"epoch {epoch!r} is not a positive integer")
    messages = sample.get("messages") or []
    given = sample.get("input")
    if isinstance(given, str):
        prompt = given
        if not messages:
            messages = [{"role": "user", "content": given}]
    elif isinstance(given, list):
        users = [
            _content(m.get("content"))
            for m in given
            if isinstance(m, dict) and m.get("role") == "user"
        ]
        if not users or users[-1] is None:
            raise bad("input", "the input conversation has no user message with text")
        prompt = users[-1]
        messages = messages or given
    else:
        raise bad("input", "the input is neither text nor a list of chat messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise bad("messages", "messages is not a list of chat messages")
    system = next((_content(m.get("content")) for m in messages if m.get("role") == "system"), None)
    output = sample.get("output") if isinstance(sample.get("output"), dict) else {}
    error = sample.get("error")
    response = _completion(output, bad)
    usage = _usage(sample, output, model)
    metadata = sample.get("metadata") if isinstance(sample.get("metadata"), dict) else {}
    failed = error is not None
    choices = output.get("choices") or [{}]
    return ImportedAttempt(
        item_id=str(sample["id"]),
        prompt=prompt,
        response=None if failed else response,
        model=model,
        messages=messages,
        system_prompt=system,
        sample_index=epoch - 1,
        category=metadata.get("category") if isinstance(metadata.get("category"), str) else None,
        harmful=metadata.get("harmful") if isinstance(metadata.get("harmful"), bool) else None,
        status=Status.ERROR if failed else Status.OK,
        error=_error_text(error) if failed else None,
        error_kind="inspect_sample_error" if failed else None,
        tool_calls=_tool_calls(messages),
        finish_reason=choices[0].get("stop_reason") if isinstance(choices[0], dict) else None,
        prompt_tokens=usage[0],
        completion_tokens=usage[1],
        latency_s=sample.get("total_time"),
        started_at=sample.get("started_at"),
        finished_at=sample.get("completed_at"),
        meta={
            "target": sample.get("target"),
            "metadata": metadata,
            "inspect_uuid": sample.get("uuid"),
            "limit": sample.get("limit"),
        },
        raters={} if failed else _raters(sample.get("scores"), options, bad),
    )


def _resolve(value: Any, attachments: dict[str, str]) -> Any:
    """Every `attachment://<hash>` string replaced by the attachment it names."""
    if isinstance(value, str):
        if value.startswith(ATTACHMENT):
            return attachments.get(value.removeprefix(ATTACHMENT), value)
        return value
    if isinstance(value, list):
        return [_resolve(v, attachments) for v in value]
    if isinstance(value, dict):
        return {
            k: v if k in ("attachments", "events") else _resolve(v, attachments)
            for k, v in value.items()
        }
    return value


def _content(content: Any) -> str | None:
    """A message's text: a string, or the text parts of a list of content blocks."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            c["text"]
            for c in content
            if isinstance(c, dict) and c.get("type") == "text" and isinstance(c.get("text"), str)
        ]
        return "\n".join(parts)
    return None


def _completion(output: dict[str, Any], bad: Any) -> str | None:
    completion = output.get("completion")
    if isinstance(completion, str):
        return completion
    choices = output.get("choices") or []
    if not choices:
        return None
    message = choices[0].get("message") if isinstance(choices[0], dict) else None
    if not isinstance(message, dict):
        raise bad("output.choices", "the first choice has no message")
    return _content(message.get("content"))


def _usage(
    sample: dict[str, Any], output: dict[str, Any], model: str
) -> tuple[int | None, int | None]:
    """The target model's tokens over the whole sample (every agent step), not the graders'."""
    usage = (sample.get("model_usage") or {}).get(model) or output.get("usage") or {}
    if not isinstance(usage, dict):
        return None, None
    return usage.get("input_tokens"), usage.get("output_tokens")


def _tool_calls(messages: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Each tool call with the result the tool returned, in the shape the runner stores."""
    results = {m.get("tool_call_id"): m for m in messages if m.get("role") == "tool"}
    calls = []
    for step, message in enumerate(messages):
        for call in message.get("tool_calls") or []:
            if not isinstance(call, dict):
                continue
            result = results.get(call.get("id")) or {}
            arguments = call.get("arguments")
            error = result.get("error")
            calls.append(
                {
                    "step": step,
                    "call_id": call.get("id"),
                    "name": str(call.get("function")),
                    "arguments_raw": json.dumps(arguments, ensure_ascii=False, default=str),
                    "arguments": arguments if isinstance(arguments, dict) else None,
                    "observation": _content(result.get("content")) or "",
                    "error": None if error is None else json.dumps(error, default=str),
                    "effect": {},
                }
            )
    return calls or None


def _raters(scores: Any, options: ImportOptions, bad: Any) -> dict[str, RaterVerdict]:
    if scores is None:
        return {}
    if not isinstance(scores, dict):
        raise bad("scores", "scores is not an object of scorer → score")
    raters = {}
    for scorer, score in scores.items():
        if not isinstance(score, dict) or "value" not in score:
            raise bad(f"scores.{scorer}", "a score has no value")
        value = score["value"]
        rater = rater_name("inspect", scorer)
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        raters[rater] = mapped_verdict(
            rater,
            value,
            {},
            options.label_map,
            score=None if number is None or math.isnan(number) else float(number),
            rationale=_text_or_none(score.get("explanation")),
            tool="Inspect",
        )
    return raters


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)
