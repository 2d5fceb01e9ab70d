"""Reading an experiment config file and resolving it into concrete configurations."""

from __future__ import annotations

import hashlib
import json
import os
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from harness._errors import ConfigError, did_you_mean
from harness._paths import resolve_relative
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
    "missing_secrets",
    "parse_config",
    "read_api_key",
    "required_secrets",
    "used_models",
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
        return resolve_relative(relative, self.base_dir)

    @property
    def output_dir(self) -> Path:
        return self.resolve_path(self.spec.output or f"results/{self.spec.name}").resolve()

    def canonical(self) -> dict[str, Any]:
        """The config as data, with file-backed system prompts inlined, minus where it writes."""
        data = self.spec.model_dump(mode="json", exclude={"output"})
        data["resolved_system_prompts"] = {c.name: c.system_prompt for c in self.configurations}
        return data

    def config_hash(self) -> str:
        # the declared comparisons change what the report shows, never what is sent: adding
        # one must not make a finished run look like another experiment
        data = {k: v for k, v in self.canonical().items() if k != "comparisons"}
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
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
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}): a "
            "binary file or another encoding",
            file=file,
            fix="pass the experiment's YAML file, saved as UTF-8",
        ) from None
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
    _check_comparisons(spec, [c.name for c in configurations], loaded.path)
    return LoadedConfig(spec=spec, path=loaded.path, configurations=configurations)


def _check_comparisons(spec: ExperimentConfig, names: list[str], file: Path) -> None:
    """Every declared comparison names two configurations of this experiment."""
    for index, pair in enumerate(spec.comparisons):
        for side in ("a", "b"):
            name = getattr(pair, side)
            if name in names:
                continue
            hint = did_you_mean(name, names)
            raise ConfigError(
                f"unknown configuration '{name}'",
                file=file,
                field=f"comparisons[{index}].{side}",
                fix=f"{hint}name one of {', '.join(names)}",
            )


def used_models(loaded: LoadedConfig) -> list[str]:
    """Models the run calls: configurations' models, guard models, judges' models and the
    attacker and judge models of adaptive attacks."""
    spec = loaded.spec
    names = [c.model_name for c in loaded.configurations]
    for conf in loaded.configurations:
        names += [model for g in conf.deployment.guards() for model in g.models()]
    names += [str(g.options["model"]) for g in spec.graders if "model" in g.options]
    # adaptive attacks' attacker and judge models (checked against `models` when built)
    for attack in spec.attacks:
        names += [str(attack.options[k]) for k in ("attacker", "judge") if k in attack.options]
    return [n for n in dict.fromkeys(names) if n in spec.models]


def missing_secrets(loaded: LoadedConfig) -> list[tuple[str, str]]:
    """Every API-key variable the run needs that is unset: (variable, where it is named)."""
    missing: dict[str, str] = {}
    for env, field in _wanted_secrets(loaded):
        if env is not None and env not in missing and not os.environ.get(env):
            missing[env] = field
    return list(missing.items())


def _wanted_secrets(loaded: LoadedConfig) -> list[tuple[str | None, str]]:
    wanted: list[tuple[str | None, str]] = [
        (loaded.spec.models[name].api_key_env, f"models.{name}.api_key_env")
        for name in used_models(loaded)
    ]
    for conf in loaded.configurations:
        wanted += [
            (env, f"deployments.{conf.deployment_name}.safety_layer ({g.kind} guard)")
            for g in conf.deployment.guards()
            for env in g.secrets()
        ]
    return wanted


def required_secrets(loaded: LoadedConfig) -> dict[str, str]:
    """Read every API key the run needs, or fail naming the variable and where it is set."""
    secrets: dict[str, str] = {}
    for env, field in _wanted_secrets(loaded):
        if env is None or env in secrets:
            continue
        secrets[env] = read_api_key(env, file=loaded.path, field=field)
    return secrets


def read_api_key(env: str, *, field: str, file: Path | None = None, when: str = "running") -> str:
    """The key in the environment variable `env`, or a ConfigError naming the variable and the
    config field that names it. Keys are read here only, never from the config itself."""
    value = os.environ.get(env)
    if not value:
        raise ConfigError(
            f"environment variable {env} is not set",
            file=file,
            field=field,
            fix=f"export {env}=<your key> before {when} (the key never goes in the config)",
        )
    return value


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
    errors = [_Located.of(error) for error in exc.errors()]
    best = min(errors, key=lambda e: e.rank(errors))
    field = _dotted(best.loc)
    kind = best.error["type"]
    if kind == "extra_forbidden":
        return ConfigError(
            f"unknown key '{best.loc[-1]}'",
            file=file,
            field=field,
            fix=_unknown_key_fix(best.loc[-1], best.parent),
        )
    if kind in ("unknown_key", "unknown_name"):  # a plugin's keys or name: it carries the fix
        carried = str(best.error["ctx"]["fix"])
        return ConfigError(str(best.error["msg"]), file=file, field=field, fix=carried)
    if kind == "missing":
        return ConfigError("required key is missing", file=file, field=field, fix="add it")
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        message = f"expected a mapping of keys, got {type(best.error.get('input')).__name__}"
    else:
        message = str(best.error["msg"]).removeprefix("Value error, ")
    fix = "see the README's config reference" if "fix" not in message else None
    others = sum(1 for e in errors if e is not best and e.compatible_with(best))
    more = f" (and {others} more)" if others else ""
    return ConfigError(message + more, file=file, field=field or None, fix=fix)


@dataclass(frozen=True)
class _Located:
    """A pydantic error with its location cleaned of union-member tags (`ConfigurationSpec`).

    `branches` records which member of each union the error belongs to, so that errors of
    the member that fits the input best can be preferred over those of the other members.
    """

    error: Any
    loc: tuple[str, ...]
    branches: tuple[tuple[tuple[str, ...], str], ...]
    type_mismatch: bool  # the value is not of this union member's type at all
    parent: type[BaseModel] | None  # the model the last key of `loc` belongs to

    @classmethod
    def of(cls, error: Any) -> _Located:
        annotation: Any = ExperimentConfig
        loc: list[str] = []
        branches: list[tuple[tuple[str, ...], str]] = []
        parent: type[BaseModel] | None = None
        raw = [str(p) for p in error["loc"] if not str(p).startswith(("function-", "tagged"))]
        for part in raw:
            members = _union_members(annotation)
            if len(members) > 1:
                chosen = next((m for m in members if _member_name(m) == part), None)
                if chosen is not None:
                    branches.append((tuple(loc), part))
                    annotation = chosen
                    continue
            elif members:
                annotation = members[0]
            loc.append(part)
            parent = annotation if _is_model(annotation) else None
            annotation = _child(annotation, part)
        mismatch = bool(branches) and len(branches[-1][0]) == len(loc)
        return cls(error, tuple(loc), tuple(branches), mismatch, parent)

    def compatible_with(self, other: _Located) -> bool:
        chosen = dict(other.branches)
        return all(chosen.get(where, tag) == tag for where, tag in self.branches)

    def rank(self, errors: list[_Located]) -> tuple[int, int, int, int]:
        # an input that fits a union member, the member with the fewest errors, an unknown key
        # (often the cause of a "missing" one), then the deepest location
        siblings = sum(1 for e in errors if e.branches == self.branches)
        return (
            int(self.type_mismatch),
            siblings,
            int(self.error["type"] not in ("extra_forbidden", "unknown_key")),
            -len(self.loc),
        )


def _union_members(annotation: Any) -> list[Any]:
    if isinstance(annotation, types.UnionType) or get_origin(annotation) is Union:
        return [a for a in get_args(annotation) if a is not type(None)]
    return []


def _member_name(annotation: Any) -> str:
    return annotation.__name__ if isinstance(annotation, type) else str(annotation)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _child(annotation: Any, part: str) -> Any:
    """The annotation one step down: a model's field, a list's item or a mapping's value."""
    if _is_model(annotation):
        field = annotation.model_fields.get(part)
        return field.annotation if field is not None else None
    args = get_args(annotation)
    if get_origin(annotation) in (list, tuple, set, frozenset) and args:
        return args[0]
    if get_origin(annotation) is dict and len(args) == 2:
        return args[1]
    return None


def _dotted(loc: tuple[str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def _unknown_key_fix(key: str, model: type[BaseModel] | None) -> str:
    allowed = list(model.model_fields) if model is not None else []
    if not allowed:
        return "remove it"
    hint = did_you_mean(key, allowed)
    return f"{hint}remove or rename it; allowed here: {', '.join(sorted(allowed))}"
