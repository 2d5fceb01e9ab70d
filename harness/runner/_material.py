"""Everything that decides a request or a grade besides the config's own text: the files it
names (system prompts, guard and judge templates, label files, attack templates), the
definitions of the tools a deployment offers, and the model file's bytes.

Their digests go into the request hashes (so `--force` re-sends exactly the attempts whose
request changed), the grade fingerprints (so it re-grades exactly the grades whose grader
changed) and the manifest (so a changed file is refused by name, as a changed config is).
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from harness.config import Configuration, FileRef, LoadedConfig
from harness.core import file_sha256
from harness.grading import Grader
from harness.layers import guard_material
from harness.providers import provider_files

__all__ = ["grader_fingerprint", "referenced_files", "request_material"]


def _resolve(config: LoadedConfig, name: str) -> Path:
    return config.resolve_path(name)


def referenced_files(config: LoadedConfig) -> dict[str, str]:
    """Every file the config names (besides its suites, fingerprinted with them), as
    path → sha256; a file that does not exist is left to the check that reads it."""
    spec = config.spec
    paths: list[str] = []
    for deployment in spec.deployments.values():
        if isinstance(deployment.system_prompt, FileRef):
            paths.append(deployment.system_prompt.file)
        for guard in deployment.guards():
            material = guard_material(guard, config.base_dir)
            if isinstance(material, Path):  # a template file, say
                paths.append(str(material))
    for grader in spec.graders:
        for key in ("template", "file"):
            value = grader.options.get(key)
            if isinstance(value, str) and _resolve(config, value).is_file():
                paths.append(value)
    paths += [attack.file for attack in spec.attacks if attack.file]
    found = {}
    for name in dict.fromkeys(paths):
        path = _resolve(config, name)
        if path.is_file():
            found[str(path)] = file_sha256(path)
    return found


def request_material(configuration: Configuration, base_dir: Path) -> dict[str, Any]:
    """What decides a configuration's requests beyond its config entries: the guard templates'
    text (built-in or from files), the tool definitions offered, the model file's digest."""
    from harness.tools import CATALOG

    deployment = configuration.deployment
    templates = []
    for guard in deployment.guards():
        decides = guard_material(guard, base_dir)
        if isinstance(decides, Path):
            decides = file_sha256(decides) if decides.is_file() else None
        templates.append(decides)
    tools = None
    if deployment.tools is not None:
        from harness.tools import DEFAULTS

        tools = {
            "catalog": [
                _plain(CATALOG[name].spec) if name in CATALOG else name
                for name in deployment.tools.catalog
            ],
            # the simulated world the fixtures are laid over: what the tools' calls observe
            "world": hashlib.sha256(repr(_plain(DEFAULTS)).encode()).hexdigest(),
        }
    material: dict[str, Any] = {"guard_templates": templates, "tools": tools}
    for name, file in provider_files(configuration.model, base_dir).items():
        material[name] = file_sha256(file) if file is not None and file.is_file() else None
    return material


def grader_fingerprint(grader: Grader, name: str, options: Mapping[str, Any]) -> str:
    """What decides a grader's labels: its name and options, what it loaded from them (a
    judge's template text, a phrase list, an annotator's labels) and its code's source."""
    cls = type(grader)
    try:
        source = inspect.getsource(inspect.getmodule(cls) or cls)
    except (OSError, TypeError):
        source = f"{cls.__module__}:{cls.__qualname__}"
    state = {k: _plain(v) for k, v in vars(grader).items() if not k.startswith("_context")}
    blob = repr([name, _plain(dict(options)), state, hashlib.sha256(source.encode()).hexdigest()])
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _plain(value: Any) -> Any:
    """Data of an object, for a digest: callables, contexts and clients are left out."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    return None
