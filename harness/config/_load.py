"""Reading an experiment config file and resolving it into concrete configurations."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from harness._errors import ConfigError
from harness.config._models import (
    DeploymentSpec,
    ExperimentConfig,
    FileRef,
    MatrixEntry,
    ModelSpec,
)

__all__ = [
    "Configuration",
    "LoadedConfig",
    "load_config",
    "parse_config",
    "required_secrets",
]


@dataclass(frozen=True)
class Configuration:
    """One model reached through one deployment: the unit every result is reported by."""

    name: str
    model_name: str
    deployment_name: str
    model: ModelSpec
    deployment: DeploymentSpec
    system_prompt: str | None


@dataclass(frozen=True)
class LoadedConfig:
    spec: ExperimentConfig
    path: Path
    configurations: tuple[Configuration, ...]

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve_path(self, relative: str) -> Path:
        candidate = Path(relative).expanduser()
        return candidate if candidate.is_absolute() else self.base_dir / candidate

    @property
    def output_dir(self) -> Path:
        return self.resolve_path(self.spec.output or f"results/{self.spec.name}").resolve()

    def canonical(self) -> dict[str, Any]:
        """The config as data, with file-backed system prompts inlined, minus where it writes."""
        data = self.spec.model_dump(mode="json", exclude={"output"})
        data["resolved_system_prompts"] = {c.name: c.system_prompt for c in self.configurations}
        return data

    def config_hash(self) -> str:
        blob = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


def load_config(path: str | Path) -> LoadedConfig:
    file = Path(path)
    if not file.is_file():
        raise ConfigError(
            "config file not found", file=file, fix="pass the path of an experiment YAML file"
        )
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", file=file) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"YAML syntax error: {problem}", file=file, field=where, fix="correct the YAML syntax"
        ) from None
    return parse_config(raw, file)


def parse_config(raw: Any, file: Path) -> LoadedConfig:
    if not isinstance(raw, dict):
        raise ConfigError(
            "the config must be a YAML mapping", file=file, fix="start from configs/demo.yaml"
        )
    try:
        spec = ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise _config_error(exc, file) from None
    loaded = LoadedConfig(spec=spec, path=file.resolve(), configurations=())
    configurations = tuple(_expand(loaded))
    return LoadedConfig(spec=spec, path=loaded.path, configurations=configurations)


def required_secrets(loaded: LoadedConfig) -> dict[str, str]:
    """Read every API key the planned configurations need, or fail naming the variable."""
    secrets: dict[str, str] = {}
    for conf in loaded.configurations:
        env = conf.model.api_key_env
        if env is None or env in secrets:
            continue
        value = os.environ.get(env)
        if not value:
            raise ConfigError(
                f"environment variable {env} is not set",
                file=loaded.path,
                field=f"models.{conf.model_name}.api_key_env",
                fix=f"export {env}=<your key> before running (the key never goes in the config)",
            )
        secrets[env] = value
    return secrets


def _expand(loaded: LoadedConfig) -> list[Configuration]:
    spec = loaded.spec
    seen: dict[str, Configuration] = {}
    for index, entry in enumerate(spec.configurations):
        if isinstance(entry, MatrixEntry):
            pairs = [
                (f"{m}/{d}", m, d) for m in entry.matrix.models for d in entry.matrix.deployments
            ]
        else:
            pairs = [
                (entry.name or f"{entry.model}/{entry.deployment}", entry.model, entry.deployment)
            ]
        for name, model, deployment in pairs:
            if name in seen:
                raise ConfigError(
                    f"configuration '{name}' is declared twice",
                    file=loaded.path,
                    field=f"configurations[{index}]",
                    fix="give each configuration a distinct name or drop the duplicate",
                )
            dep = spec.deployments[deployment]
            seen[name] = Configuration(
                name=name,
                model_name=model,
                deployment_name=deployment,
                model=spec.models[model],
                deployment=dep,
                system_prompt=_system_prompt(loaded, deployment, dep),
            )
    return list(seen.values())


def _system_prompt(loaded: LoadedConfig, name: str, deployment: DeploymentSpec) -> str | None:
    prompt = deployment.system_prompt
    if not isinstance(prompt, FileRef):
        return prompt
    path = loaded.resolve_path(prompt.file)
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"cannot read system prompt file {path}: {exc.strerror}",
            file=loaded.path,
            field=f"deployments.{name}.system_prompt.file",
            fix="give a path relative to the config file, or write the prompt inline",
        ) from None


def _config_error(exc: ValidationError, file: Path) -> ConfigError:
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"] if not str(part).startswith(("function-", "tagged"))]
    field = _dotted(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        return ConfigError(
            f"unknown key '{loc[-1]}'",
            file=file,
            field=field,
            fix=_unknown_key_fix(loc),
        )
    if kind == "missing":
        return ConfigError("required key is missing", file=file, field=field, fix="add it")
    message = str(error["msg"]).removeprefix("Value error, ")
    fix = "see the README's config reference" if "fix" not in message else None
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return ConfigError(message + more, file=file, field=field or None, fix=fix)


def _dotted(loc: list[str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def _unknown_key_fix(loc: list[str]) -> str:
    allowed = _allowed_keys(loc[:-1])
    if not allowed:
        return "remove it"
    close = difflib.get_close_matches(loc[-1], allowed, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"{hint}remove or rename it; allowed here: {', '.join(sorted(allowed))}"


def _allowed_keys(parent: list[str]) -> list[str]:
    """Walk the config models along `parent` to list the keys accepted at that level."""
    model: type[BaseModel] | None = ExperimentConfig
    for part in parent:
        if model is None:
            return []
        field = model.model_fields.get(part)
        if field is None:
            # a mapping key (model name) or list index: the annotation's item model stays
            continue
        model = _inner_model(field.annotation)
    return list(model.model_fields) if model is not None else []


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
