"""What `harness validate` prints: the plan, its arithmetic, and what each deployment wraps
around its model, without sending anything."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.config import Configuration, DeploymentSpec
from harness.layers import describe_guard, guard_calls
from harness.runner._plan import Plan

__all__ = ["PlanCounts", "describe_deployment", "describe_plan", "plan_counts"]


@dataclass(frozen=True)
class PlanCounts:
    """The requests a plan implies. Turns: a multi-turn attack sends several per attempt."""

    configurations: int
    items: int
    attacks: int
    samples: int
    attempts: int  # configurations × items × attacks × samples
    model_requests: int  # at least: one per live turn (a tool loop adds up to max_steps each)
    guard_calls: int  # at most: model and moderation guards, per turn and reply, no early block
    judge_calls: int  # at most: one per graded attempt per judge grader, before re-asks
    judge_calls_max: int
    tool_loops: bool


def plan_counts(plan: Plan) -> PlanCounts:
    turns = {a.name: _turns(plan, a.name) for a in plan.attacks}
    per_item = plan.samples * sum(turns.values())  # live turns of one item, every attack
    per_config = plan.n_items * per_item
    configs = plan.config.configurations
    guards = sum(per_config * _called_guards(c.deployment) for c in configs)
    judges = [g for g in plan.config.spec.graders if "model" in g.options]
    reasks = sum(1 + int(g.options.get("max_reasks", 2)) for g in judges)
    return PlanCounts(
        configurations=len(configs),
        items=plan.n_items,
        attacks=len(plan.attacks),
        samples=plan.samples,
        attempts=plan.size,
        model_requests=per_config * len(configs),
        guard_calls=guards,
        judge_calls=plan.size * len(judges),
        judge_calls_max=plan.size * reasks,
        tool_loops=any(c.deployment.tools for c in configs),
    )


def _turns(plan: Plan, attack: str) -> int:
    """Live user turns the attack sends (the same for every prompt it wraps)."""
    chosen = next(a for a in plan.attacks if a.name == attack)
    first = next((item for suite in plan.suites for item in suite.items), None)
    return len(chosen.apply(first.prompt).turns) if first is not None else 1


def _called_guards(deployment: DeploymentSpec) -> int:
    layer = deployment.safety_layer
    if layer is None:
        return 0
    return sum(1 for g in (*layer.input, *layer.output) if guard_calls(g))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def describe_deployment(deployment: DeploymentSpec, system_prompt: str | None) -> str:
    """Each layer the deployment puts around its model, or 'no layers'."""
    layers = []
    if system_prompt:
        first = system_prompt.splitlines()[0]
        shown = first if len(first) <= 48 else first[:45] + "..."
        layers.append(f'system prompt ({len(system_prompt)} chars: "{shown}")')
    layer = deployment.safety_layer
    if layer is not None:
        parts = []
        if layer.input:
            parts.append("input " + ", ".join(map(describe_guard, layer.input)))
        if layer.output:
            parts.append("output " + ", ".join(map(describe_guard, layer.output)))
        layers.append(f"safety layer: {'; '.join(parts)}; on error {layer.on_error}")
    if deployment.tools is not None:
        tools = [*deployment.tools.catalog, *(t.name for t in deployment.tools.custom)]
        layers.append(
            f"tools: {', '.join(tools)} (up to {deployment.tools.max_steps} model calls a turn)"
        )
    if deployment.provider_side_layers:
        names = ", ".join(p.name for p in deployment.provider_side_layers)
        layers.append(f"provider-side: {names}")
    return "; ".join(layers) or "no layers (the bare model)"


def _attack(attack: Any) -> str:
    from harness.attacks import AdaptiveAttack

    if not isinstance(attack, AdaptiveAttack):
        return str(attack.name)
    return (
        f"{attack.name} (adaptive: attacker {attack.attacker}, judge {attack.judge}, "
        f"up to {attack.max_target_queries} target queries per request)"
    )


def _configuration(c: Configuration) -> str:
    vendor = ", ".join(p.name for p in c.model.provider_side_layers)
    extra = f"; model's provider-side layers: {vendor}" if vendor else ""
    return (
        f"  {c.name:32} model={c.model_name} ({c.model.provider}) "
        f"deployment={c.deployment_name}{extra}"
    )


def describe_plan(plan: Plan) -> str:
    config = plan.config
    lines = [f"experiment {config.spec.name} ({config.path})", "configurations:"]
    lines += [_configuration(c) for c in config.configurations]
    lines.append("deployments:")
    seen: dict[str, str] = {}
    for c in config.configurations:
        if c.deployment_name not in seen:
            seen[c.deployment_name] = describe_deployment(c.deployment, c.system_prompt)
            lines.append(f"  {c.deployment_name:32} {seen[c.deployment_name]}")
    lines.append("suites:")
    for s in plan.suites:
        harmful = sum(1 for i in s.items if i.harmful)
        lines.append(
            f"  {s.name:32} {_plural(len(s.items), 'item')} ({harmful} harmful, "
            f"{len(s.items) - harmful} benign) from {s.source}"
        )
    lines.append(f"attacks: {', '.join(_attack(a) for a in plan.attacks)}")
    graders = ", ".join(g.rater + (" (primary)" if g.primary else "") for g in config.spec.graders)
    lines.append(f"graders: {graders}")
    if config.spec.comparisons:
        pairs = [
            f"{p.a} vs {p.b}" + (f" [{p.label}]" if p.label else "")
            for p in config.spec.comparisons
        ]
        lines.append(f"declared comparisons: {'; '.join(pairs)}")
    lines.append(f"output: {config.output_dir}")
    lines += _arithmetic(plan_counts(plan))
    return "\n".join(lines)


def _arithmetic(n: PlanCounts) -> list[str]:
    lines = [
        f"plan: {_plural(n.configurations, 'configuration')} x {_plural(n.items, 'item')} x "
        f"{_plural(n.attacks, 'attack')} x {_plural(n.samples, 'sample')} = "
        f"{_plural(n.attempts, 'attempt')}",
    ]
    more = " (multi-turn attacks send one per turn)" if n.model_requests != n.attempts else ""
    loops = "; tool access adds up to max_steps per turn" if n.tool_loops else ""
    lines.append(f"  target model requests: {n.model_requests}{more}{loops}")
    if n.guard_calls:
        lines.append(
            f"  guard calls: up to {n.guard_calls} (each model or moderation guard on every "
            "turn or reply; a block ends the attempt early)"
        )
    if n.judge_calls:
        lines.append(
            f"  judge calls: up to {n.judge_calls} (one per graded attempt and judge; "
            f"{n.judge_calls_max} if every answer is re-asked)"
        )
    return lines
