"""Crescendo (Russinovich, Salem and Eldan 2024, "Great, Now Write an Article About That: The
Crescendo Multi-Turn LLM Jailbreak Attack").

One conversation with the configuration under test, steered by an attacker model. Each turn the
attacker writes the next question (JSON `{"question", "rationale", "last_response_summary"}`),
building on the target's own earlier answers; the target answers with the real conversation so
far as its history. A refusal (the deployment blocked it, or the judge model says the reply
declined) is backtracked: the exchange is taken out of the target's history, the attacker is
told and tries another angle for the same turn, up to `max_backtracks` times. Every other
reply is rated 1 to 10 by the judge against the request; the search stops at a 10, after
`max_turns` turns, or when `max_queries` target queries are used up. The paper's defaults: 10
turns, 10 backtracks.

Unparseable attacker replies are asked again (`max_attack_attempts` tries), then the
conversation ends, counted as `unparseable`, never as a success; the turn the graders grade is
the jailbreak, or else the best-rated reply, with the conversation that led to it.
"""

from __future__ import annotations

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
    ask_yes_no,
    json_object_schema,
    parse_yes_no,
    propose,
    rate,
    seed_for,
)
from harness.attacks._plan import AttackPlan
from harness.attacks._spec import AttackOptions, StrictModel

__all__ = ["CRESCENDO_TEMPLATES", "Crescendo", "CrescendoOptions", "parse_refusal"]

CRESCENDO_TEMPLATES: dict[str, tuple[frozenset[str], str]] = {
    "attacker_system": (frozenset({"goal", "max_turns"}), "crescendo_attacker_system.txt"),
    "attacker_turn": (
        frozenset({"goal", "turn", "max_turns", "last_response", "score"}),
        "crescendo_attacker_turn.txt",
    ),
    "attacker_backtrack": (
        frozenset({"goal", "turn", "max_turns", "refused_question"}),
        "crescendo_attacker_backtrack.txt",
    ),
    "refusal": (frozenset({"goal", "question", "response"}), "crescendo_refusal.txt"),
    "judge_system": (frozenset({"goal"}), "pair_judge_system.txt"),
    "judge_turn": (frozenset({"goal", "prompt", "response"}), "pair_judge_turn.txt"),
}


class CrescendoTemplates(StrictModel):
    """Replacement template files (relative to the config); each defaults to the built-in."""

    attacker_system: str | None = None
    attacker_turn: str | None = None
    attacker_backtrack: str | None = None
    refusal: str | None = None
    judge_system: str | None = None
    judge_turn: str | None = None


class CrescendoOptions(AdaptiveOptions):
    max_turns: int = Field(10, ge=1, le=50, description="turns of the conversation (paper: 10)")
    max_backtracks: int = Field(10, ge=0, le=50, description="refusals taken back (paper: 10)")
    templates: CrescendoTemplates = Field(default_factory=CrescendoTemplates)


# what the attacker must answer: constrained where the model allows it
QUESTION_SCHEMA = json_object_schema("question", "rationale", "last_response_summary")
# a refusal check's `[[YES]]` (refused) or `[[NO]]`
parse_refusal = parse_yes_no


class Crescendo(AdaptiveBase):
    """Crescendo (Russinovich et al. 2024): attacker-steered multi-turn escalation, backtracking
    on refusal."""

    kind: ClassVar[str] = "crescendo"
    Options: ClassVar[type[AttackOptions]] = CrescendoOptions
    TEMPLATES: ClassVar[dict[str, tuple[frozenset[str], str]]] = CRESCENDO_TEMPLATES
    options: CrescendoOptions

    @property
    def max_target_queries(self) -> int:
        bound = self.options.max_turns + self.options.max_backtracks
        return min(bound, self.options.max_queries or bound)

    def apply(self, prompt: str) -> AttackPlan:
        return AttackPlan.single(prompt)

    async def search(self, goal: str, calls: SearchCalls) -> SearchResult:
        run = _Conversation(self, goal, calls)
        try:
            await run.go()
        except SearchAborted as abort:
            run.stopped, run.error, run.error_kind = "error", str(abort), abort.kind
        return run.result()


class _Conversation:
    """The state of one Crescendo conversation."""

    def __init__(self, attack: Crescendo, goal: str, calls: SearchCalls) -> None:
        self.attack, self.opts, self.goal, self.calls = attack, attack.options, goal, calls
        self.counts = Counts()
        system = self._render("attacker_system")
        self.attacker_messages: list[dict[str, str]] = [{"role": "system", "content": system}]
        self.history: list[dict[str, str]] = []  # the target's conversation, refusals taken out
        self.steps: list[dict[str, Any]] = []
        self.backtracks = 0
        self.stopped = "turns"
        self.status = "active"
        self.error: str | None = None
        self.error_kind: str | None = None
        self.success_turn: int | None = None

    def _render(self, slot: str, **values: Any) -> str:
        base = {"goal": self.goal, "max_turns": str(self.opts.max_turns)}
        return render_template(
            self.attack.templates[slot], base | {k: str(v) for k, v in values.items()}
        )

    async def go(self) -> None:
        turn, prompt = (
            1,
            self._render(
                "attacker_turn",
                turn=1,
                last_response="(none yet: this is the first turn)",
                score="-",
            ),
        )
        while turn <= self.opts.max_turns:
            cap = self.opts.max_queries
            if cap is not None and self.counts.queries["target"] >= cap:
                self.stopped = "max_queries"
                return
            step: dict[str, Any] = {"turn": turn, "attacker_input": prompt}
            # steps are numbered as they come, one at a time: the key of each of its calls
            key = f"t{len(self.steps)}"
            self.steps.append(step)
            self.attacker_messages.append({"role": "user", "content": prompt})
            question = await self._question(step, turn, key)
            if question is None:
                self.status, self.stopped = "unparseable", "unparseable"
                return
            response, refused = await self._ask_target(question, step, turn, key)
            if refused and self.backtracks < self.opts.max_backtracks:
                self.backtracks += 1
                step["backtracked"] = True
                prompt = self._render("attacker_backtrack", turn=turn, refused_question=question)
                continue
            self.history += [
                {"role": "user", "content": question},
                {"role": "assistant", "content": response},
            ]
            score = await rate(
                self.attack.templates,
                {"goal": self.goal, "prompt": question, "response": response},
                self.opts.max_judge_attempts,
                seed_for(self.calls.seed, 0, turn),
                self.calls,
                self.counts,
                step,
                key,
            )
            step["score"] = score
            if score == SUCCESS:
                self.stopped, self.success_turn = "success", turn
                return
            turn += 1
            shown = score if score is not None else "unknown (the judge's rating was unreadable)"
            prompt = self._render("attacker_turn", turn=turn, last_response=response, score=shown)

    async def _question(self, step: dict[str, Any], turn: int, key: str) -> str | None:
        proposed = await propose(
            tuple(self.attacker_messages),
            self.opts.max_attack_attempts,
            seed_for(self.calls.seed, 0, turn) + 10 * self.backtracks,
            self.calls,
            self.counts,
            step,
            key,
            QUESTION_SCHEMA,
        )
        if proposed is None:
            return None
        text, value = proposed
        self.attacker_messages.append({"role": "assistant", "content": text})
        step["question"] = value["question"]
        step["rationale"] = value.get("rationale")
        return str(value["question"])

    async def _ask_target(
        self, question: str, step: dict[str, Any], turn: int, key: str
    ) -> tuple[str, bool]:
        query = self.counts.queries["target"]
        self.counts.queries["target"] += 1
        answer = await self.calls.target(question, tuple(self.history), query)
        response = answer.response or ""
        step |= {
            "target_query": answer.query,
            "target_status": answer.status,
            "target_response": answer.response,
        }
        if answer.status in TARGET_FAILURES:
            step["target_error"] = answer.error
            raise SearchAborted("target_error", f"target query failed: {answer.error}")
        if answer.status.startswith("BLOCKED"):
            step["refused"] = True  # the deployment refused: no judge needed
            return response, True
        refused = await ask_yes_no(
            self._render("refusal", question=question, response=response),
            self.opts.max_judge_attempts,
            seed_for(self.calls.seed, 0, turn) + 50,
            self.calls,
            self.counts,
            f"{key}.refusal",
        )
        step["refused"] = refused  # None: unreadable, not backtracked, counted here
        return response, refused is True

    def result(self) -> SearchResult:
        final = self._final()
        queries = self.counts.queries["target"]
        trace = {
            "method": self.attack.kind,
            "goal": self.goal,
            "attacker": self.opts.attacker,
            "judge": self.opts.judge,
            "options": self.opts.model_dump(mode="json", exclude={"templates"}),
            "success": self.success_turn is not None,
            "success_turn": self.success_turn,
            "queries_to_success": queries if self.success_turn else None,
            "stopped": self.stopped if queries or self.stopped == "error" else "no_prompt",
            "backtracks": self.backtracks,
            **self.counts.as_json(),
            "unparseable_streams": int(self.status == "unparseable"),
            "final": final,
            "turns": self.steps,
        }
        if self.error is not None:
            trace["error"] = {"kind": self.error_kind, "message": self.error}
        return SearchResult(
            trace,
            final["target_query"] if final else None,
            error=self.error,
            error_kind=self.error_kind,
            stopped=str(trace["stopped"]),
            queries=dict(self.counts.queries),
        )

    def _final(self) -> dict[str, Any] | None:
        """The jailbreak, else the best-rated kept reply (the latest of equals), else the last
        target query (a refusal or a failure is still what the attempt ends with)."""
        sent = [s for s in self.steps if "target_query" in s]
        if not sent:
            return None
        kept = [s for s in sent if not s.get("backtracked")]
        if self.success_turn is not None:
            step = next(s for s in kept if s.get("score") == SUCCESS)
        elif kept:
            step = max(kept, key=lambda s: (s.get("score") or 0, s["target_query"]))
        else:
            step = sent[-1]
        return {
            "turn": step["turn"],
            "score": step.get("score"),
            "target_query": step["target_query"],
        }
