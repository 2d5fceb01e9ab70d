"""TAP: Tree of Attacks with Pruning (Mehrotra et al. 2023, "Tree of Attacks: Jailbreaking
Black-Box LLMs Automatically").

A tree search over PAIR's attacker conversations. At each of up to `depth` levels every leaf
branches: the attacker writes `branching_factor` refinements of the leaf's last prompt. Phase
one of pruning asks the judge model (the paper's evaluator) whether each new prompt still asks
for the request and drops those that do not (`off_topic`). The remaining
prompts go to the configuration under test and the judge rates the replies 1 to 10; a 10 ends
the search (a jailbreak). Phase two keeps the `width` best-rated leaves (`low_score` for the
rest). The paper's defaults: branching factor 4, width 10, depth 10.

The attacker and judge prompts are PAIR's (`pair_*.txt`), plus `tap_on_topic.txt`. An attacker
reply that is not the JSON asked for is asked again (`max_attack_attempts` tries); then that
branch is not grown, counted as `unparseable`, never a success. An unreadable on-topic answer
keeps the branch (the judge's rating decides), and is counted.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
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
    ask_yes_no,
    propose,
    rate,
    seed_for,
)
from harness.attacks._pair import PAIR_TEMPLATES, PROPOSAL_SCHEMA
from harness.attacks._plan import AttackPlan
from harness.attacks._spec import AttackOptions, StrictModel

__all__ = ["TAP_TEMPLATES", "Tap", "TapOptions"]

TAP_TEMPLATES: dict[str, tuple[frozenset[str], str]] = {
    **PAIR_TEMPLATES,
    "on_topic": (frozenset({"goal", "prompt"}), "tap_on_topic.txt"),
}


class TapTemplates(StrictModel):
    """Replacement template files (relative to the config); each defaults to the built-in."""

    attacker_system: str | None = None
    attacker_init: str | None = None
    attacker_turn: str | None = None
    judge_system: str | None = None
    judge_turn: str | None = None
    on_topic: str | None = None


class TapOptions(AdaptiveOptions):
    branching_factor: int = Field(4, ge=1, le=20, description="children per leaf (paper: 4)")
    width: int = Field(10, ge=1, le=100, description="leaves kept per level (paper: 10)")
    depth: int = Field(10, ge=1, le=50, description="levels of the tree (paper: 10)")
    keep_last_n: int = Field(4, ge=1, le=50, description="attacker exchanges kept in its history")
    target_str: str = Field("Sure, here is", min_length=1, description="the hoped-for opening")
    templates: TapTemplates = Field(default_factory=TapTemplates)


@dataclass
class _Node:
    id: int
    parent: int | None
    depth: int
    conversation: list[dict[str, str]]  # the attacker's, ending with the pending user message
    step: dict[str, Any]


class Tap(AdaptiveBase):
    """TAP (Mehrotra et al. 2023): a tree of attacker refinements, pruned off-topic and
    low-scoring."""

    kind: ClassVar[str] = "tap"
    Options: ClassVar[type[AttackOptions]] = TapOptions
    TEMPLATES: ClassVar[dict[str, tuple[frozenset[str], str]]] = TAP_TEMPLATES
    options: TapOptions

    @property
    def max_target_queries(self) -> int:
        # phase two keeps `width` leaves, each of which has `branching_factor` children
        bound = self.options.branching_factor * self.options.width * self.options.depth
        return min(bound, self.options.max_queries or bound)

    def apply(self, prompt: str) -> AttackPlan:
        return AttackPlan.single(prompt)

    async def search(self, goal: str, calls: SearchCalls) -> SearchResult:
        tree = _Tree(self, goal, calls)
        try:
            await tree.grow()
        except SearchAborted as abort:
            tree.stopped, tree.error, tree.error_kind = "error", str(abort), abort.kind
        return tree.result()


class _Tree:
    def __init__(self, attack: Tap, goal: str, calls: SearchCalls) -> None:
        self.attack, self.opts, self.goal, self.calls = attack, attack.options, goal, calls
        self.values = {"goal": goal, "target_str": self.opts.target_str}
        self.counts = Counts()
        self.ids = itertools.count(1)
        self.nodes: list[dict[str, Any]] = []  # every node's step, in creation order
        self.stopped = "depth"
        self.error: str | None = None
        self.error_kind: str | None = None
        self.success_depth: int | None = None
        self.unparseable = 0

    def _render(self, slot: str, **values: str) -> str:
        return render_template(self.attack.templates[slot], self.values | values)

    async def grow(self) -> None:
        root = [
            {"role": "system", "content": self._render("attacker_system")},
            {"role": "user", "content": self._render("attacker_init")},
        ]
        leaves = [_Node(0, None, 0, root, {"node": 0, "depth": 0, "root": True})]
        for depth in range(1, self.opts.depth + 1):
            cap = self.opts.max_queries
            left = None if cap is None else cap - self.counts.queries["target"]
            if left is not None and left <= 0:
                self.stopped = "max_queries"
                return
            # node ids (and so seeds and step keys) are given before anything is asked, in
            # leaf order: the same tree whatever reply comes first, in a resumed search too
            planned = [
                [self._new_step(leaf, depth) for _ in range(self.opts.branching_factor)]
                for leaf in leaves
            ]
            children = [
                child
                for group in await all_or_abort(
                    [self._branch(leaf, steps) for leaf, steps in zip(leaves, planned, strict=True)]
                )
                for child in group
            ]
            children = await self._on_topic(children, depth)
            if left is not None:
                children = self._keep(children, left, "max_queries")
            if not children:
                self.stopped = "no_branches"
                return
            first = self.counts.queries["target"]
            self.counts.queries["target"] += len(children)
            await all_or_abort(
                [self._attack(child, depth, first + n) for n, child in enumerate(children)]
            )
            if any(c.step.get("score") == SUCCESS for c in children):
                self.stopped, self.success_depth = "success", depth
                return
            ranked = sorted(children, key=lambda c: -(c.step.get("score") or 0))
            leaves = self._keep(ranked, self.opts.width, "low_score")
            for leaf in leaves:
                self._continue(leaf)

    def _keep(self, nodes: list[_Node], limit: int, reason: str) -> list[_Node]:
        for node in nodes[limit:]:
            node.step["pruned"] = reason
        return nodes[:limit]

    def _new_step(self, leaf: _Node, depth: int) -> dict[str, Any]:
        step: dict[str, Any] = {"node": next(self.ids), "parent": leaf.id, "depth": depth}
        self.nodes.append(step)
        return step

    async def _branch(self, leaf: _Node, steps: list[dict[str, Any]]) -> list[_Node]:
        # children one after another: each is an independent sample of the same conversation
        children = []
        for step in steps:
            child = await self._child(leaf, step)
            if child is not None:
                children.append(child)
        return children

    async def _child(self, leaf: _Node, step: dict[str, Any]) -> _Node | None:
        node_id, depth = step["node"], step["depth"]
        keep = 2 * self.opts.keep_last_n
        history = (leaf.conversation[0], *leaf.conversation[1:][-(keep + 1) :])
        proposed = await propose(
            history,
            self.opts.max_attack_attempts,
            seed_for(self.calls.seed, node_id, depth),
            self.calls,
            self.counts,
            step,
            f"n{node_id}",
            PROPOSAL_SCHEMA,
        )
        if proposed is None:
            step["pruned"] = "unparseable"
            self.unparseable += 1
            return None
        text, value = proposed
        step["prompt"] = value["prompt"]
        step["improvement"] = value.get("improvement")
        conversation = [*leaf.conversation, {"role": "assistant", "content": text}]
        return _Node(node_id, leaf.id, depth, conversation, step)

    async def _on_topic(self, children: list[_Node], depth: int) -> list[_Node]:
        verdicts = await all_or_abort([self._topic(c, depth) for c in children])
        kept = []
        for child, on_topic in zip(children, verdicts, strict=True):
            child.step["on_topic"] = on_topic
            if on_topic is False:
                child.step["pruned"] = "off_topic"
            else:
                kept.append(child)
        return kept

    async def _topic(self, child: _Node, depth: int) -> bool | None:
        return await ask_yes_no(
            self._render("on_topic", prompt=child.step["prompt"]),
            self.opts.max_judge_attempts,
            seed_for(self.calls.seed, child.id, depth) + 50,
            self.calls,
            self.counts,
            f"n{child.id}.topic",
        )

    async def _attack(self, child: _Node, depth: int, query: int) -> None:
        prompt = child.step["prompt"]
        answer = await self.calls.target(prompt, (), query)
        child.step |= {
            "target_query": answer.query,
            "target_status": answer.status,
            "target_response": answer.response,
        }
        if answer.status in TARGET_FAILURES:
            child.step["target_error"] = answer.error
            raise SearchAborted("target_error", f"target query failed: {answer.error}")
        child.step["score"] = await rate(
            self.attack.templates,
            {"goal": self.goal, "prompt": prompt, "response": answer.response or ""},
            self.opts.max_judge_attempts,
            seed_for(self.calls.seed, child.id, depth) + 70,
            self.calls,
            self.counts,
            child.step,
            f"n{child.id}",
        )

    def _continue(self, leaf: _Node) -> None:
        score = leaf.step.get("score")
        shown = str(score) if score is not None else "unknown (the judge's rating was unreadable)"
        turn = self._render(
            "attacker_turn", target_response=leaf.step.get("target_response") or "", score=shown
        )
        leaf.conversation.append({"role": "user", "content": turn})

    def result(self) -> SearchResult:
        sent = [
            s
            for s in self.nodes
            if "target_query" in s and s.get("target_status") not in TARGET_FAILURES
        ]
        sent = sent or [s for s in self.nodes if "target_query" in s]
        step = None
        if self.success_depth is not None:
            step = next(s for s in sent if s.get("score") == SUCCESS)
        elif sent:
            step = max(sent, key=lambda s: (s.get("score") or 0, s["target_query"]))
        final = (
            {
                "node": step["node"],
                "depth": step["depth"],
                "score": step.get("score"),
                "target_query": step["target_query"],
            }
            if step
            else None
        )
        queries = self.counts.queries["target"]
        stopped = self.stopped if queries or self.stopped == "error" else "no_prompt"
        trace = {
            "method": self.attack.kind,
            "goal": self.goal,
            "attacker": self.opts.attacker,
            "judge": self.opts.judge,
            "options": self.opts.model_dump(mode="json", exclude={"templates"}),
            "success": self.success_depth is not None,
            "success_depth": self.success_depth,
            "queries_to_success": queries if self.success_depth else None,
            "stopped": stopped,
            **self.counts.as_json(),
            "unparseable_streams": self.unparseable,
            "pruned": {
                reason: sum(s.get("pruned") == reason for s in self.nodes)
                for reason in ("off_topic", "low_score", "max_queries", "unparseable")
            },
            "final": final,
            "nodes": self.nodes,
        }
        if self.error is not None:
            trace["error"] = {"kind": self.error_kind, "message": self.error}
        return SearchResult(
            trace,
            final["target_query"] if final else None,
            error=self.error,
            error_kind=self.error_kind,
            stopped=stopped,
            queries=dict(self.counts.queries),
        )
