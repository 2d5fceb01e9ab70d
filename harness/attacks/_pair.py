"""PAIR: Prompt Automatic Iterative Refinement (Chao et al. 2023, "Jailbreaking Black Box Large
Language Models in Twenty Queries").

`n_streams` independent streams run in parallel. In each of `n_iterations` rounds every live
stream asks the attacker model for a JSON object `{"improvement", "prompt"}`, sends the prompt
to the configuration under test, and has the judge model rate the reply from 1 to 10 against
the request; the attacker then sees the reply and the rating and refines. The search stops at
the end of the first round in which a rating reaches 10 (a jailbreak), after the last round,
or when `max_queries` target queries are used up. The paper's defaults: 20 streams, 3 rounds;
the attacker's conversation keeps its last `keep_last_n` exchanges, as in the reference
implementation.

An attacker reply that is not such a JSON object is asked again (`max_attack_attempts` tries in
all); then the stream ends, counted as `unparseable`, and never as a success. A judge reply
without a `Rating: [[N]]` is asked again (`max_judge_attempts`); then the rating is recorded as
missing (never 10). Attacker, judge and target failures after the channels' retries end the
search, with everything so far kept in the trajectory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import Field

from harness._templates import render_template
from harness.attacks._adaptive import (
    SUCCESS,
    TARGET_FAILURES,
    AdaptiveBase,
    AdaptiveOptions,
    Counts,
    SearchAborted,
    SearchCalls,
    SearchResult,
    all_or_abort,
    json_object_schema,
    propose,
    rate,
    seed_for,
)
from harness.attacks._plan import AttackPlan
from harness.attacks._spec import AttackOptions, StrictModel

__all__ = ["PAIR_TEMPLATES", "PROPOSAL_SCHEMA", "Pair", "PairOptions", "PairTemplates"]

# what the attacker must answer (PAIR's and TAP's): constrained where the model allows it
PROPOSAL_SCHEMA = json_object_schema("prompt", "improvement")

# slot -> (placeholders it may use, built-in file in prompts/attacks/)
PAIR_TEMPLATES: dict[str, tuple[frozenset[str], str]] = {
    "attacker_system": (frozenset({"goal", "target_str"}), "pair_attacker_system.txt"),
    "attacker_init": (frozenset({"goal", "target_str"}), "pair_attacker_init.txt"),
    "attacker_turn": (
        frozenset({"goal", "target_str", "target_response", "score"}),
        "pair_attacker_turn.txt",
    ),
    "judge_system": (frozenset({"goal"}), "pair_judge_system.txt"),
    "judge_turn": (frozenset({"goal", "prompt", "response"}), "pair_judge_turn.txt"),
}


class PairTemplates(StrictModel):
    """Replacement template files (relative to the config); each defaults to the built-in."""

    attacker_system: str | None = None
    attacker_init: str | None = None
    attacker_turn: str | None = None
    judge_system: str | None = None
    judge_turn: str | None = None


class PairOptions(AdaptiveOptions):
    n_streams: int = Field(20, ge=1, le=100, description="parallel streams (paper: 20)")
    n_iterations: int = Field(3, ge=1, le=50, description="rounds per stream (paper: 3)")
    keep_last_n: int = Field(4, ge=1, le=50, description="attacker exchanges kept in its history")
    target_str: str = Field("Sure, here is", min_length=1, description="the hoped-for opening")
    templates: PairTemplates = Field(default_factory=PairTemplates)


@dataclass
class _Stream:
    index: int
    conversation: list[dict[str, str]]
    steps: list[dict[str, Any]] = field(default_factory=list)
    status: str = "active"  # active | unparseable | error


class Pair(AdaptiveBase):
    """PAIR (Chao et al. 2023): an attacker model refines a jailbreak in parallel streams."""

    kind: ClassVar[str] = "pair"
    Options: ClassVar[type[AttackOptions]] = PairOptions
    TEMPLATES: ClassVar[dict[str, tuple[frozenset[str], str]]] = PAIR_TEMPLATES
    options: PairOptions

    @property
    def max_target_queries(self) -> int:
        bound = self.options.n_streams * self.options.n_iterations
        return min(bound, self.options.max_queries or bound)

    def apply(self, prompt: str) -> AttackPlan:
        return AttackPlan.single(prompt)

    async def search(self, goal: str, calls: SearchCalls) -> SearchResult:
        opts = self.options
        values = {"goal": goal, "target_str": opts.target_str}
        system = render_template(self.templates["attacker_system"], values)
        init = render_template(self.templates["attacker_init"], values)
        streams = [
            _Stream(i, [{"role": "system", "content": system}, {"role": "user", "content": init}])
            for i in range(opts.n_streams)
        ]
        counts = Counts()
        stopped, error, error_kind = "iterations", None, None
        success_iteration: int | None = None
        for iteration in range(1, opts.n_iterations + 1):
            live = [s for s in streams if s.status == "active"]
            if opts.max_queries is not None:
                left = opts.max_queries - counts.queries["target"]
                if left <= 0:
                    stopped = "max_queries"
                    break
                live = live[:left]
            if not live:
                stopped = "no_prompt" if not counts.queries["target"] else "streams_ended"
                break
            try:
                await self._round(live, iteration, goal, calls, counts)
            except SearchAborted as abort:
                stopped, error, error_kind = "error", str(abort), abort.kind
                break
            if any(s.steps and s.steps[-1].get("score") == SUCCESS for s in live):
                stopped, success_iteration = "success", iteration
                break
        else:
            if opts.max_queries is not None and counts.queries["target"] >= opts.max_queries:
                stopped = "max_queries"
        if stopped == "iterations" and not counts.queries["target"]:
            stopped = "no_prompt"
        final = _final_step(streams, success_iteration)
        trace = {
            "method": self.kind,
            "goal": goal,
            "attacker": opts.attacker,
            "judge": opts.judge,
            "options": opts.model_dump(mode="json", exclude={"templates"}),
            "success": success_iteration is not None,
            "success_iteration": success_iteration,
            "queries_to_success": counts.queries["target"] if success_iteration else None,
            "stopped": stopped,
            **counts.as_json(),
            "unparseable_streams": sum(s.status == "unparseable" for s in streams),
            "final": final,
            "streams": [{"stream": s.index, "status": s.status, "steps": s.steps} for s in streams],
        }
        if error is not None:
            trace["error"] = {"kind": error_kind, "message": error}
        return SearchResult(
            trace,
            final["target_query"] if final else None,
            error=error,
            error_kind=error_kind,
            stopped=stopped,
            queries=dict(counts.queries),
        )

    async def _round(
        self,
        live: list[_Stream],
        iteration: int,
        goal: str,
        calls: SearchCalls,
        counts: Counts,
    ) -> None:
        """One round of every live stream, in three phases as in the reference implementation
        (attackers, then target, then judge): target queries are numbered in stream order,
        whatever reply comes first, so that a resumed search numbers them as the first did."""
        for stream in live:
            step: dict[str, Any] = {"iteration": iteration}
            step["attacker_input"] = stream.conversation[-1]["content"]
            stream.steps.append(step)
        proposals = await all_or_abort([self._propose(s, iteration, calls, counts) for s in live])
        proposing = []
        for stream, proposal in zip(live, proposals, strict=True):
            if proposal is None:
                stream.status = "unparseable"
                continue
            step = stream.steps[-1]
            step["improvement"], step["prompt"] = proposal
            proposing.append(stream)
        first = counts.queries["target"]
        counts.queries["target"] += len(proposing)
        responses = await all_or_abort(
            [self._send(s, first + n, calls) for n, s in enumerate(proposing)]
        )
        await all_or_abort(
            [
                self._judge(s, response, iteration, goal, calls, counts)
                for s, response in zip(proposing, responses, strict=True)
            ]
        )

    async def _send(self, stream: _Stream, query: int, calls: SearchCalls) -> str:
        step = stream.steps[-1]
        answer = await calls.target(step["prompt"], (), query)
        step["target_query"] = answer.query
        step["target_status"] = answer.status
        step["target_response"] = answer.response
        if answer.status in TARGET_FAILURES:
            stream.status = "error"
            step["target_error"] = answer.error
            raise SearchAborted("target_error", f"target query failed: {answer.error}")
        return answer.response or ""

    async def _judge(
        self,
        stream: _Stream,
        response: str,
        iteration: int,
        goal: str,
        calls: SearchCalls,
        counts: Counts,
    ) -> None:
        step = stream.steps[-1]
        score = await rate(
            self.templates,
            {"goal": goal, "prompt": step["prompt"], "response": response},
            self.options.max_judge_attempts,
            seed_for(calls.seed, stream.index, iteration),
            calls,
            counts,
            step,
            _key(stream.index, iteration),
        )
        step["score"] = score
        shown = str(score) if score is not None else "unknown (the judge's rating was unreadable)"
        turn = render_template(
            self.templates["attacker_turn"],
            {
                "goal": goal,
                "target_str": self.options.target_str,
                "target_response": response,
                "score": shown,
            },
        )
        stream.conversation.append({"role": "user", "content": turn})

    async def _propose(
        self, stream: _Stream, iteration: int, calls: SearchCalls, counts: Counts
    ) -> tuple[str, str] | None:
        keep = 2 * self.options.keep_last_n
        # the system prompt, then the last exchanges, ending with the pending user message
        history = (stream.conversation[0], *stream.conversation[1:][-(keep + 1) :])
        try:
            proposed = await propose(
                history,
                self.options.max_attack_attempts,
                seed_for(calls.seed, stream.index, iteration),
                calls,
                counts,
                stream.steps[-1],
                _key(stream.index, iteration),
                PROPOSAL_SCHEMA,
            )
        except SearchAborted:
            stream.status = "error"
            raise
        if proposed is None:
            return None
        text, value = proposed
        stream.conversation.append({"role": "assistant", "content": text})
        improvement = value.get("improvement")
        return (improvement if isinstance(improvement, str) else ""), value["prompt"]


def _key(stream: int, iteration: int) -> str:
    return f"s{stream}.i{iteration}"


def _final_step(streams: list[_Stream], success_iteration: int | None) -> dict[str, Any] | None:
    """The step the graders grade: the first jailbreak, else the best-rated reply (the latest
    of equals); steps without a target reply are never chosen."""
    sent = [
        (s.index, step)
        for s in streams
        for step in s.steps
        if "target_query" in step and step.get("target_status") not in TARGET_FAILURES
    ]
    if not sent:
        failed = [(s.index, st) for s in streams for st in s.steps if "target_query" in st]
        sent = failed  # a failed target query is still what the attempt ends with
        if not sent:
            return None
    if success_iteration is not None:
        index, step = next((i, st) for i, st in sent if st.get("score") == SUCCESS)
    else:
        index, step = max(
            sent, key=lambda pair: (pair[1].get("score") or 0, pair[1]["target_query"])
        )
    return {
        "stream": index,
        "iteration": step["iteration"],
        "score": step.get("score"),
        "target_query": step["target_query"],
    }
