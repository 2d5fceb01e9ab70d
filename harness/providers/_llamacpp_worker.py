"""The process that holds one llama.cpp model, so that a native crash cannot take the run down.

Run as `python -m harness.providers._llamacpp_worker`. It reads one JSON request per line on
stdin and answers one JSON line each on the stdout it was started with; llama.cpp's own output
(C code may print) is sent to stderr, never into the answers. Requests:

- `{"op": "load", "path", "n_ctx", "n_threads", "seed", "extra_buffer_types"}`
- `{"op": "complete", "prompt_format", "messages", "tools", "params"}`

Answers are `{"ok": true, ...}` or `{"ok": false, "kind": "rejected"|"load_failed", "message"}`.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import sys
from collections.abc import Iterator
from typing import IO, Any

from harness.providers._llama_tools import (
    CALL_OPEN,
    call_schema,
    chat_messages,
    choice_grammar,
    parse_tool_call,
    render_base_prompt,
    union_grammar,
)

BASE_STOP = ["\nUser:", "\nAssistant:", "\nQuestion:", "\n\n\n"]
# a tool call is not prose: cut at max_tokens, nearly every call would end as malformed JSON
TOOL_CALL_TOKENS = 128


class _ProseCut:
    """Stops a reply that is prose at the request's max_tokens; a tool call may run longer."""

    def __init__(self, llama: Any, max_tokens: int) -> None:
        self._llama = llama
        self._max_tokens = max_tokens
        self._start: int | None = None
        self.cut = False

    def __call__(self, input_ids: Any, logits: Any) -> bool:
        # asked after each sampled token, with the ids before it: the first ask sees the prompt
        if self._start is None:
            self._start = len(input_ids)
        if len(input_ids) - self._start + 1 < self._max_tokens:
            return False
        tokens = list(input_ids[self._start :])
        generated = self._llama.detokenize(tokens).decode(errors="replace").lstrip()
        self.cut = not (generated.startswith(CALL_OPEN) or CALL_OPEN.startswith(generated))
        return self.cut


@contextlib.contextmanager
def _no_extra_buffer_types() -> Iterator[None]:
    """Load with llama.cpp's extra buffer types (weight repacking) off.

    On CPUs with AMX, builds of llama.cpp made with GGML_NATIVE repack weights for AMX and then
    crash (SIGSEGV) on any batch longer than one token. llama-cpp-python has no argument for the
    model parameter `use_extra_bufts`, so the defaults it reads are amended for this one load.
    """
    from llama_cpp import llama_cpp as native

    original = native.llama_model_default_params

    def defaults() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    native.llama_model_default_params = defaults
    try:
        yield
    finally:
        native.llama_model_default_params = original


def _load(request: dict[str, Any]) -> Any:
    from harness.providers._llama_model import HarnessLlama as Llama

    arguments: dict[str, Any] = {
        "model_path": request["path"],
        "n_ctx": request["n_ctx"],
        "n_threads": request["n_threads"],
        # llama-cpp-python evaluates prompts on every core by default: threads that spin on a
        # core another process holds (the judge's worker, the harness) make that 10x slower
        "n_threads_batch": request["n_threads"],
        "seed": request["seed"],
        "verbose": False,
        "swa_full": False,  # the full-size cache only wastes memory at these lengths
    }
    if request.get("extra_buffer_types"):
        return Llama(**arguments)
    with _no_extra_buffer_types():
        return Llama(**arguments)


def _grammar(tools: list[dict[str, Any]]) -> Any:
    from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

    call_gbnf = json_schema_to_gbnf(json.dumps(call_schema(tools)))
    return LlamaGrammar.from_string(union_grammar(call_gbnf), verbose=False)


def _choice_grammar(choices: list[str]) -> Any:
    """The reply is exactly one of the choices (a judge's label), after optional blanks."""
    from llama_cpp.llama_grammar import LlamaGrammar

    return LlamaGrammar.from_string(choice_grammar(choices), verbose=False)


def _schema_grammar(schema: dict[str, Any]) -> Any:
    """The reply is one JSON value that follows `schema` (llama.cpp's JSON-Schema converter)."""
    from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

    return LlamaGrammar.from_string(json_schema_to_gbnf(json.dumps(schema)), verbose=False)


def _complete(llama: Any, request: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = request["params"]
    tools: list[dict[str, Any]] = request.get("tools") or []
    messages: list[dict[str, Any]] = request["messages"]
    common: dict[str, Any] = {
        "max_tokens": params["max_tokens"],
        "temperature": params["temperature"],
        "top_p": params["top_p"],
        "seed": params["seed"],
    }
    prose_cut = None
    if request.get("choices"):
        common["grammar"] = _choice_grammar(request["choices"])
    elif request.get("schema"):
        common["grammar"] = _schema_grammar(request["schema"])
    elif tools:
        from llama_cpp import StoppingCriteriaList

        prose_cut = _ProseCut(llama, params["max_tokens"])
        common |= {
            "grammar": _grammar(tools),
            "max_tokens": max(params["max_tokens"], TOOL_CALL_TOKENS),
            "stopping_criteria": StoppingCriteriaList([prose_cut]),
        }
    if request["prompt_format"] == "base":
        stop = params["stop"] or BASE_STOP
        prompt = render_base_prompt(messages, tools)
        out = llama.create_completion(prompt=prompt, stop=stop, **common)
        text = out["choices"][0]["text"]
    else:
        out = llama.create_chat_completion(
            messages=chat_messages(messages, tools), stop=params["stop"] or None, **common
        )
        text = out["choices"][0]["message"]["content"]
    return _answer(out, (text or "").strip(), tools, prose_cut)


def _answer(
    out: dict[str, Any], text: str, tools: list[dict[str, Any]], prose_cut: _ProseCut | None
) -> dict[str, Any]:
    usage = out.get("usage") or {}
    answer: dict[str, Any] = {
        "ok": True,
        "text": text,
        "finish_reason": out["choices"][0].get("finish_reason"),
        "prompt_tokens": usage.get("prompt_tokens"),
        "completion_tokens": usage.get("completion_tokens"),
        "tool_call": None,
    }
    if prose_cut is not None and prose_cut.cut:
        answer["finish_reason"] = "length"  # cut by the prose budget, as max_tokens would
    call = parse_tool_call(text) if tools else None
    if call is not None:
        answer["tool_call"] = {"name": call[0], "arguments": call[1]}
        answer["text"] = ""
        answer["finish_reason"] = "tool_calls"
    return answer


def serve(requests: IO[str], answers: IO[str]) -> None:
    llama: Any = None
    for line in requests:
        request = json.loads(line)
        answer: dict[str, Any]
        try:
            if request["op"] == "load":
                llama = _load(request)
                answer = {"ok": True}
            else:
                answer = _complete(llama, request)
        except ValueError as exc:  # a bad file, a prompt longer than the context window
            kind = "load_failed" if request["op"] == "load" else "rejected"
            answer = {"ok": False, "kind": kind, "message": str(exc)}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def main() -> None:
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever native code prints goes to stderr, never into the answers
    faulthandler.enable()  # a native crash names its place on stderr
    serve(sys.stdin, answers)


if __name__ == "__main__":
    main()
