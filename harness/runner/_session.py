"""One `harness run`: open or resume the run directory, build providers and graders, execute."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness._errors import RunStoreError
from harness.config import (
    GraderSpec,
    GuardSpec,
    LoadedConfig,
    ModelSpec,
    required_secrets,
    used_models,
)
from harness.grading import GraderContext, JudgeFn, build_grader
from harness.layers import build_safety_layer
from harness.layers._guards import ModerateFn
from harness.providers import ChatRequest, LlamaCppProvider, Provider, Reply
from harness.runner._attempt import ConfigurationRuntime
from harness.runner._budget import Budget, token_cost
from harness.runner._channels import Channel, ModerationChannel, build_channels
from harness.runner._log import run_log
from harness.runner._plan import Plan, Shard, build_plan
from harness.runner._runner import NamedGrader, RunOptions, RunSummary, execute
from harness.store import RunStore, read_manifest, write_manifest
from harness.tools import ToolDefinition, custom_tool, validate_tool_names

__all__ = ["judge_through", "open_run", "prepare_graders", "run_experiment"]

log = logging.getLogger("harness.runner")


async def run_experiment(
    config: LoadedConfig,
    *,
    force: bool = False,
    options: RunOptions | None = None,
    stop: asyncio.Event | None = None,
    output: Path | None = None,
    shard: Shard | None = None,
) -> tuple[RunSummary, Path]:
    secrets = required_secrets(config)
    plan = build_plan(config, shard)
    models = {name: config.spec.models[name] for name in used_models(config)}
    channels = build_channels(models, secrets, config.base_dir)
    moderation: dict[int, ModerationChannel] = {}
    try:
        runtimes = _runtimes(config, channels, moderation, secrets)
        context = GraderContext(config.base_dir, judge=judge_through(channels))
        graders = prepare_graders(config.spec.graders, context, config.path)
        run_dir = output or _default_output(config, shard)
        store = open_run(config, plan, channels, run_dir, force=force, secrets=secrets.values())
        stop = stop or asyncio.Event()
        budget = _budget(config, store, stop)
        for channel in channels.values():
            channel.budget = budget
        try:
            with run_log(run_dir, secrets.values()):
                log.info("run of %s started (%d planned)", config.path, plan.size)
                summary = await execute(plan, store, runtimes, graders, options=options, stop=stop)
                if not summary.interrupted or budget.exhausted:
                    store.build_read_indexes()  # once, in bulk: the report that follows reads them
                summary.budget_exhausted = budget.exhausted
                _log_end(summary)
        finally:
            store.close()
    finally:
        closing: list[Channel | ModerationChannel] = [*channels.values(), *moderation.values()]
        await asyncio.gather(*(c.aclose() for c in closing))
    return summary, run_dir


def _log_end(summary: RunSummary) -> None:
    counts = ", ".join(f"{k}={v}" for k, v in sorted(summary.statuses.items())) or "nothing"
    log.info(
        "%d already stored; sent %d (%s) in %.1f s",
        summary.already_done, summary.finished, counts, summary.elapsed_s,
    )  # fmt: skip
    # info, not warning: the command says these itself, and says them once
    if summary.budget_exhausted:
        log.info(
            "budget: %s; the run stopped, finished attempts are stored", summary.budget_exhausted
        )
    elif summary.interrupted:
        log.info("interrupted: finished attempts are stored; run again to resume")


def _budget(config: LoadedConfig, store: RunStore, stop: asyncio.Event) -> Budget:
    """A resumed run starts with what its stored attempts already spent."""
    prices = config.spec.prices
    requests, cost = 0, 0.0
    for model, tries, prompt_tokens, completion_tokens in store.spending():
        requests += tries
        if model in prices:
            cost += token_cost(prices[model], prompt_tokens, completion_tokens)
    return Budget(config.spec.budget, prices, stop, requests=requests, cost=cost)


def _default_output(config: LoadedConfig, shard: Shard | None) -> Path:
    base = config.output_dir
    return base.with_name(f"{base.name}.shard-{shard.index}-of-{shard.count}") if shard else base


def judge_through(channels: Mapping[str, Channel]) -> JudgeFn:
    """Graders call judge models through the same channels (limits, retries) as the run."""

    async def judge(model: str, request: ChatRequest) -> tuple[Reply | None, str | None]:
        channel = channels.get(model)
        if channel is None:
            return None, f"model '{model}' is not declared under models"
        outcome = await channel.complete(request)
        return outcome.reply, outcome.error.describe() if outcome.error else None

    return judge


def _runtimes(
    config: LoadedConfig,
    channels: Mapping[str, Channel],
    moderation: dict[int, ModerationChannel],
    secrets: Mapping[str, str],
) -> dict[str, ConfigurationRuntime]:
    judge = judge_through(channels)

    async def complete(model: str, request: ChatRequest) -> tuple[str | None, str | None]:
        reply, error = await judge(model, request)
        return (reply.text if reply else None), error

    def moderate_for(guard: GuardSpec) -> ModerateFn:
        channel = moderation.setdefault(
            id(guard), ModerationChannel(guard, secrets.get(guard.api_key_env or ""))
        )

        async def moderate(text: str) -> tuple[Mapping[str, float] | None, bool, str | None]:
            outcome = await channel.moderate(text)
            if outcome.value is None:
                return None, False, outcome.error.describe() if outcome.error else "no result"
            return outcome.value.scores, outcome.value.flagged, None

        return moderate

    runtimes = {}
    for conf in config.configurations:
        deployment = conf.deployment
        where = f"deployments.{conf.deployment_name}"
        safety = (
            build_safety_layer(
                deployment.safety_layer,
                complete=complete,
                moderate_for=moderate_for,
                base_dir=config.base_dir,
                file=str(config.path),
                where=f"{where}.safety_layer",
            )
            if deployment.safety_layer
            else None
        )
        custom: tuple[ToolDefinition, ...] = ()
        if deployment.tools is not None:
            tools_where = f"{where}.tools"
            validate_tool_names(
                deployment.tools.catalog, file=str(config.path), where=f"{tools_where}.catalog"
            )
            custom = tuple(
                custom_tool(raw, file=str(config.path), where=f"{tools_where}.custom[{i}]")
                for i, raw in enumerate(deployment.tools.custom)
            )
        runtimes[conf.name] = ConfigurationRuntime(
            conf, channels[conf.model_name], safety, deployment.tools, custom, peers=channels
        )
    return runtimes


def prepare_graders(
    specs: Sequence[GraderSpec], context: GraderContext, file: Path | None = None
) -> list[NamedGrader]:
    return [
        NamedGrader(
            spec.rater,
            build_grader(
                spec.name,
                spec.options,
                context,
                where=f"graders[{i}]",
                file=str(file) if file else None,
            ),
        )
        for i, spec in enumerate(specs)
    ]


def open_run(
    config: LoadedConfig,
    plan: Plan,
    channels: Mapping[str, Channel],
    run_dir: Path,
    *,
    force: bool,
    secrets: Sequence[str] | Any = (),
) -> RunStore:
    """Open the run directory, refusing to mix results of a different config unless forced."""
    content = _manifest_content(config, plan, channels)
    previous = read_manifest(run_dir)
    history: list[str] = []
    if previous is not None:
        differences = _differences(previous, content)
        if differences and not force:
            raise RunStoreError(
                f"the run directory holds results of a different config ({'; '.join(differences)})",
                file=run_dir,
                fix="choose another output directory, or pass --force to re-send changed attempts",
            )
        history = list(previous.get("config_history", [previous.get("config_hash")]))
    store = RunStore(run_dir, create=True, secrets=secrets)
    if content["config_hash"] not in history:
        history.append(content["config_hash"])
    content["config_history"] = history
    content["commands"] = [*(previous or {}).get("commands", []), " ".join(sys.argv)][-20:]
    write_manifest(run_dir, content)
    return store


def _manifest_content(
    config: LoadedConfig, plan: Plan, channels: Mapping[str, Channel]
) -> dict[str, Any]:
    spec = config.spec
    return {
        "run": spec.name,
        "kind": "experiment",
        "config_file": str(config.path),
        "config_hash": config.config_hash(),
        "config": config.canonical(),
        "base_dir": str(config.base_dir),
        "suites": {
            s.name: {"source": s.source, "fingerprint": s.fingerprint, "items": len(s.items)}
            for s in plan.suites
        },
        "models": {name: _identity(c.spec, c.provider) for name, c in channels.items()},
        "attacks": [a.name for a in plan.attacks],
        # everything that makes a configuration's deployment, for like-for-like checks
        "configurations": [
            {
                "name": c.name,
                "model": c.model_name,
                "deployment": c.deployment_name,
                "system_prompt": c.system_prompt,
                "safety_layer": _dump(c.deployment.safety_layer),
                "tools": _dump(c.deployment.tools),
                "provider_side_layers": [
                    p.model_dump(mode="json")
                    for p in (*c.model.provider_side_layers, *c.deployment.provider_side_layers)
                ],
            }
            for c in config.configurations
        ],
        "graders": [g.model_dump(mode="json") | {"rater": g.rater} for g in spec.graders],
        "primary_grader": spec.primary_grader.rater,
        "samples": spec.samples,
        "plan_size": plan.size,
        "shard": str(plan.shard) if plan.shard else None,
    }


def _dump(spec: Any) -> Any:
    return spec.model_dump(mode="json") if spec is not None else None


def _identity(spec: ModelSpec, provider: Provider) -> dict[str, Any]:
    identity: dict[str, Any] = {
        "provider": spec.provider,
        "model": spec.model,
        "base_url": spec.base_url,
        "api_key_env": spec.api_key_env,
        "params": spec.params.model_dump(mode="json"),
    }
    if isinstance(provider, LlamaCppProvider):
        identity |= {
            "path": str(provider.path),
            "file_sha256": _sha256(provider.path),
            "prompt_format": spec.prompt_format or "chat",
        }
    return identity


def _sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            hasher.update(block)
    return hasher.hexdigest()


def _differences(previous: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    found = []
    if previous.get("config_hash") != current["config_hash"]:
        found.append("config changed")
    if previous.get("shard") != current["shard"]:
        found.append(f"shard {previous.get('shard')} is not {current['shard']}")
    old_suites = previous.get("suites", {})
    for name, suite in current["suites"].items():
        if name in old_suites and old_suites[name].get("fingerprint") != suite["fingerprint"]:
            found.append(f"suite '{name}' file changed")
    for name, model in current["models"].items():
        old = previous.get("models", {}).get(name, {})
        if old.get("file_sha256") and old.get("file_sha256") != model.get("file_sha256"):
            found.append(f"weights of model '{name}' changed")
    return found
