"""One `harness run`: open or resume the run directory, build providers and graders, execute."""

from __future__ import annotations

import asyncio
import hashlib
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness._errors import RunStoreError
from harness.config import GraderSpec, LoadedConfig, ModelSpec, required_secrets
from harness.grading import GraderContext, build_grader
from harness.providers import LlamaCppProvider, Provider, build_provider
from harness.runner._plan import Plan, build_plan
from harness.runner._runner import NamedGrader, RunOptions, RunSummary, execute
from harness.store import RunStore, read_manifest, write_manifest

__all__ = ["open_run", "prepare_graders", "run_experiment"]


async def run_experiment(
    config: LoadedConfig,
    *,
    force: bool = False,
    options: RunOptions | None = None,
    stop: asyncio.Event | None = None,
    output: Path | None = None,
) -> tuple[RunSummary, Path]:
    secrets = required_secrets(config)
    plan = build_plan(config)
    graders = prepare_graders(config.spec.graders, GraderContext(config.base_dir), config.path)
    providers = _providers(config, secrets)
    run_dir = output or config.output_dir
    store = open_run(config, plan, providers, run_dir, force=force, secrets=secrets.values())
    try:
        summary = await execute(plan, store, providers, graders, options=options, stop=stop)
    finally:
        store.close()
        await asyncio.gather(*(p.aclose() for p in providers.values()))
    return summary, run_dir


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


def _providers(config: LoadedConfig, secrets: Mapping[str, str]) -> dict[str, Provider]:
    used = {c.model_name: c.model for c in config.configurations}
    return {
        name: build_provider(
            spec, api_key=secrets.get(spec.api_key_env or ""), base_dir=config.base_dir
        )
        for name, spec in used.items()
    }


def open_run(
    config: LoadedConfig,
    plan: Plan,
    providers: Mapping[str, Provider],
    run_dir: Path,
    *,
    force: bool,
    secrets: Sequence[str] | Any = (),
) -> RunStore:
    """Open the run directory, refusing to mix results of a different config unless forced."""
    content = _manifest_content(config, plan, providers)
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
    config: LoadedConfig, plan: Plan, providers: Mapping[str, Provider]
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
        "models": {name: _identity(spec.models[name], providers[name]) for name in providers},
        "configurations": [
            {"name": c.name, "model": c.model_name, "deployment": c.deployment_name}
            for c in config.configurations
        ],
        "graders": [g.model_dump(mode="json") | {"rater": g.rater} for g in spec.graders],
        "primary_grader": spec.primary_grader.rater,
        "samples": spec.samples,
        "plan_size": plan.size,
    }


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
    old_suites = previous.get("suites", {})
    for name, suite in current["suites"].items():
        if name in old_suites and old_suites[name].get("fingerprint") != suite["fingerprint"]:
            found.append(f"suite '{name}' file changed")
    for name, model in current["models"].items():
        old = previous.get("models", {}).get(name, {})
        if old.get("file_sha256") and old.get("file_sha256") != model.get("file_sha256"):
            found.append(f"weights of model '{name}' changed")
    return found
