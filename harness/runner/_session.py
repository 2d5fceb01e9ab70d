"""One `harness run`: open or resume the run directory, build providers and graders, execute."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness._errors import RunStoreError
from harness.config import (
    GraderSpec,
    GuardSpec,
    LoadedConfig,
    ModelSpec,
    ToolAccessSpec,
    required_secrets,
    used_models,
)
from harness.core import file_sha256
from harness.grading import GraderContext, JudgeFn, build_grader
from harness.layers import CompleteFn, ModerateFn, SafetyLayer, build_safety_layer
from harness.providers import ChatRequest, Provider, Reply, provider_identity
from harness.runner._attempt import ConfigurationRuntime
from harness.runner._budget import budget_from_store, requests_for
from harness.runner._channels import Channel, ModerationChannel, build_channels
from harness.runner._log import run_log
from harness.runner._material import grader_fingerprint, referenced_files
from harness.runner._plan import Plan, Shard, build_plan
from harness.runner._runner import NamedGrader, RunOptions, RunSummary, execute, regrade
from harness.store import Manifest, RunStore, read_manifest, write_manifest
from harness.tools import ToolDefinition, custom_tool, validate_tool_names

__all__ = [
    "check_config",
    "deployment_parts",
    "judge_through",
    "open_run",
    "prepare_graders",
    "run_experiment",
]

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
        previous = read_manifest(run_dir)
        store = open_run(
            config, plan, channels, run_dir, force=force, secrets=secrets.values(), graders=graders
        )
        changed = _changed_graders(graders, previous)
        stop = stop or asyncio.Event()
        budget = budget_from_store(config.spec.budget, config.spec.prices, store, stop)
        for channel in channels.values():
            channel.budget = budget
        try:
            with run_log(run_dir, secrets.values()):
                log.info("run of %s started (%d planned)", config.path, plan.size)
                summary = await execute(
                    plan, store, runtimes, graders, options=options, stop=stop, budget=budget
                )
                if not stop.is_set():
                    # a changed grader (--force), or one whose re-grading a stop interrupted:
                    # exactly its stale grades are graded again
                    summary.regraded = await regrade(
                        store, graders, stop, budget, changed={g.rater for g in changed}
                    )
                    if summary.regraded:
                        log.info("re-graded %d grades of changed graders", summary.regraded.total())
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


def _default_output(config: LoadedConfig, shard: Shard | None) -> Path:
    base = config.output_dir
    return base.with_name(f"{base.name}.shard-{shard.index}-of-{shard.count}") if shard else base


def judge_through(channels: Mapping[str, Channel], role: str = "judge") -> JudgeFn:
    """Graders call judge models through the same channels (limits, retries) as the run;
    `role` is what their requests are charged as (guards use this too)."""

    async def judge(model: str, request: ChatRequest) -> tuple[Reply | None, str | None]:
        channel = channels.get(model)
        if channel is None:
            return None, f"model '{model}' is not declared under models"
        with requests_for(role=role):
            outcome = await channel.complete(request)
        return outcome.reply, outcome.error.describe() if outcome.error else None

    return judge


def _runtimes(
    config: LoadedConfig,
    channels: Mapping[str, Channel],
    moderation: dict[int, ModerationChannel],
    secrets: Mapping[str, str],
) -> dict[str, ConfigurationRuntime]:
    judge = judge_through(channels, role="guard")

    async def complete(model: str, request: ChatRequest) -> tuple[str | None, str | None]:
        reply, error = await judge(model, request)
        return (reply.text if reply else None), error

    def moderate_for(guard: GuardSpec) -> ModerateFn:
        channel = moderation.setdefault(
            id(guard), ModerationChannel(guard, secrets.get(next(iter(guard.secrets()), "")))
        )

        async def moderate(text: str) -> tuple[Mapping[str, float] | None, bool, str | None]:
            outcome = await channel.moderate(text)
            if outcome.value is None:
                return None, False, outcome.error.describe() if outcome.error else "no result"
            return outcome.value.scores, outcome.value.flagged, None

        return moderate

    parts = deployment_parts(config, complete, moderate_for)
    return {
        conf.name: ConfigurationRuntime(
            conf, channels[conf.model_name], *parts[conf.name], peers=channels
        )
        for conf in config.configurations
    }


DeploymentParts = tuple[SafetyLayer | None, ToolAccessSpec | None, tuple[ToolDefinition, ...]]


def deployment_parts(
    config: LoadedConfig,
    complete: CompleteFn,
    moderate_for: Callable[[GuardSpec], ModerateFn],
) -> dict[str, DeploymentParts]:
    """Each configuration's safety layer (guard regexes compiled, templates read and their
    placeholders checked) and tools (catalog names and custom schemas checked): built the
    same way by `harness validate` (with callables it never calls) and `harness run`."""
    parts: dict[str, DeploymentParts] = {}
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
            where = tools_where
            custom = tuple(
                custom_tool(tool.as_raw(), file=str(config.path), where=f"{where}.custom[{i}]")
                for i, tool in enumerate(deployment.tools.custom)
            )
        parts[conf.name] = (safety, deployment.tools, custom)
    return parts


def check_config(config: LoadedConfig, shard: Shard | None = None, *, secrets: bool = True) -> Plan:
    """Every check of a config that needs no network: what `harness validate` runs, and what
    `harness run` runs (through the same functions) before it sends anything. `secrets=False`
    (validate) leaves unset key variables to the caller, to list them all as warnings."""
    if secrets:
        required_secrets(config)
    plan = build_plan(config, shard)

    async def never_complete(model: str, request: ChatRequest) -> tuple[str | None, str | None]:
        raise AssertionError("validate sends nothing")

    def never_moderate(guard: GuardSpec) -> ModerateFn:
        async def moderate(text: str) -> tuple[Mapping[str, float] | None, bool, str | None]:
            raise AssertionError("validate sends nothing")

        return moderate

    deployment_parts(config, never_complete, never_moderate)
    prepare_graders(config.spec.graders, GraderContext(config.base_dir), config.path)
    return plan


def prepare_graders(
    specs: Sequence[GraderSpec], context: GraderContext, file: Path | None = None
) -> list[NamedGrader]:
    named = []
    for i, spec in enumerate(specs):
        where = f"graders[{i}]"
        grader = build_grader(
            spec.name, spec.options, context, where=where, file=str(file) if file else None
        )
        fingerprint = grader_fingerprint(grader, spec.name, spec.options)
        named.append(NamedGrader(spec.rater, grader, fingerprint))
    return named


def _changed_graders(
    graders: Sequence[NamedGrader], previous: Manifest | None
) -> list[NamedGrader]:
    """Graders whose labels stored earlier may be stale: changed since the last run, or new.
    A store written before fingerprints were kept cannot tell: nothing is re-graded then."""
    if previous is None or "grader_fingerprints" not in previous.model_fields_set:
        return []
    before = previous.grader_fingerprints
    return [g for g in graders if before.get(g.rater) != g.fingerprint]


def open_run(
    config: LoadedConfig,
    plan: Plan,
    channels: Mapping[str, Channel],
    run_dir: Path,
    *,
    force: bool,
    secrets: Sequence[str] | Any = (),
    graders: Sequence[NamedGrader] = (),
) -> RunStore:
    """Open the run directory, refusing to mix results of a different config, or of changed
    files it names, models or graders, unless forced."""
    content = _manifest_content(config, plan, channels)
    content["grader_fingerprints"] = {g.rater: g.fingerprint for g in graders}
    content["files"] = referenced_files(config)
    previous = read_manifest(run_dir)
    history: list[str | None] = []
    if previous is not None:
        differences = _differences(previous, content)
        if differences and not force:
            raise RunStoreError(
                f"the run directory holds results of a different config ({'; '.join(differences)})",
                file=run_dir,
                fix="choose another output directory, or pass --force to re-send the changed "
                "attempts and re-grade the changed grades",
            )
        history = (
            list(previous.config_history)
            if "config_history" in previous.model_fields_set
            else [previous.config_hash]
        )
    store = RunStore(run_dir, create=True, secrets=secrets)
    if content["config_hash"] not in history:
        history.append(content["config_hash"])
    content["config_history"] = history
    content["commands"] = [*(previous.commands if previous else []), " ".join(sys.argv)][-20:]
    write_manifest(run_dir, Manifest(**content))
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
    for key, value in provider_identity(provider).items():
        if key == "path" and isinstance(value, Path):  # its bytes: a resume checks them
            identity |= {"path": str(value), "file_sha256": file_sha256(value)}
        else:
            identity[key] = value
    return identity


def _differences(previous: Manifest, current: Mapping[str, Any]) -> list[str]:
    found = []
    if previous.config_hash != current["config_hash"]:
        found.append("config changed")
    if previous.shard != current["shard"]:
        found.append(f"shard {previous.shard} is not {current['shard']}")
    old_suites = previous.suites
    for name, suite in current["suites"].items():
        if name in old_suites and old_suites[name].get("fingerprint") != suite["fingerprint"]:
            found.append(f"suite '{name}' file changed")
    for name, model in current["models"].items():
        old = previous.models.get(name, {})
        if old.get("file_sha256") and old.get("file_sha256") != model.get("file_sha256"):
            found.append(f"weights of model '{name}' changed ({model.get('path')})")
    old_files = previous.files
    for path, sha in current.get("files", {}).items():
        if path in old_files and old_files[path] != sha:
            found.append(f"file {path} changed")
    old_graders = previous.grader_fingerprints
    for rater, fingerprint in current.get("grader_fingerprints", {}).items():
        if rater in old_graders and old_graders[rater] != fingerprint:
            found.append(f"grader '{rater}' changed (its options, template, list or code)")
    return found
