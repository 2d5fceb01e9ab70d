"""Open registries: names mapped to the classes that implement them, fed by entry points.

Each extensible part of the harness (graders, providers, guard kinds, report formats, import
formats) is a `Registry` over one entry-point group. The harness's own implementations register
through the same groups as third-party plugins, in pyproject.toml; a decorator (`@provider(...)`,
`@reporter(...)`, ...) also registers a class when its module is imported, for scripts and tests.

HARNESS_LOAD_PLUGINS limits which distributions are loaded: unset loads every installed plugin;
a comma-separated list loads the harness's own plus those distributions; an empty value loads
only the harness's own (what the tests use, so that nothing installed on the machine leaks in).

A plugin is imported only when its name is asked for (`get`), or when every name is listed
(`all`): a broken plugin that a run does not use cannot stop it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from harness._errors import ConfigError, did_you_mean

__all__ = [
    "GUARD_KINDS",
    "OWN_DISTRIBUTION",
    "PROVIDERS",
    "PluginOptions",
    "Registry",
    "allowed_distributions",
    "options_model",
    "owner_of",
    "spoken_list",
    "unknown_keys",
]

OWN_DISTRIBUTION = "harness"
T = TypeVar("T")


class PluginOptions(BaseModel):
    """Base of a plugin's own config keys: unknown keys are errors, as everywhere in a config."""

    # defer_build: built at first use, as in harness.config._models (every built-in provider's
    # and guard kind's options class is created when `harness run` starts)
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def allowed_distributions() -> set[str | None] | None:
    """The distributions whose entry points load, or None for all of them."""
    setting = os.environ.get("HARNESS_LOAD_PLUGINS")
    if setting is None:
        return None
    return {OWN_DISTRIBUTION, *(name.strip() for name in setting.split(",") if name.strip())}


def spoken_list(names: Iterable[str]) -> str:
    """'a', 'b' or 'c': the way pydantic lists the values a field accepts."""
    quoted = [f"'{n}'" for n in names]
    if len(quoted) < 2:
        return "".join(quoted) or "none"
    return f"{', '.join(quoted[:-1])} or {quoted[-1]}"


class Registry(Generic[T]):
    """The classes registered under one entry-point group, by name, in declaration order."""

    def __init__(self, group: str, noun: str, field: str, *, first: tuple[str, ...] = ()) -> None:
        self.group = group  # e.g. "harness.providers"
        self.noun = noun  # "provider": what the error messages call one entry
        self.field = field  # where a config or command names one, for errors raised here
        # listed first, in this order (installers sort entry points by name); then the rest
        self._first = {name: index for index, name in enumerate(first)}
        self._classes: dict[str, T] = {}
        self._complete = False

    def register(self, name: str) -> Callable[[T], T]:
        """A class decorator: register the class under `name` when its module is imported."""

        def add(cls: T) -> T:
            self._classes[name] = cls
            return cls

        return add

    def all(self) -> dict[str, T]:
        """Every installed entry (the harness's own first), importing each plugin."""
        points = self._entry_points()
        if not self._complete:
            for ep in points:
                self._classes.setdefault(ep.name, self._load(ep))
            self._complete = True
        ranked = {ep.name: self._classes[ep.name] for ep in points}
        return ranked | self._classes  # then those registered by their decorator alone

    def names(self) -> list[str]:
        """Every installed name, without importing any plugin."""
        return list(dict.fromkeys([*(ep.name for ep in self._entry_points()), *self._classes]))

    def find(self, name: str) -> T | None:
        """The class registered under `name`, importing only the plugin that provides it."""
        if name not in self._classes:
            for ep in self._entry_points(name):
                self._classes.setdefault(ep.name, self._load(ep))
                break
        return self._classes.get(name)

    def get(self, name: str, *, file: str | None = None, field: str | None = None) -> T:
        """The class registered under `name`, or a ConfigError with a "did you mean"."""
        found = self.find(name)
        if found is None:
            raise ConfigError(
                self.unknown(name), file=file, field=field or self.field, fix=self.fix(name)
            )
        return found

    def unknown(self, name: str) -> str:
        return f"unknown {self.noun} '{name}' (installed: {spoken_list(self.names())})"

    def unknown_error(self, name: str) -> PydanticCustomError:
        """The same, raised inside a config's validation: it keeps the field and the fix."""
        return PydanticCustomError("unknown_name", self.unknown(name), {"fix": self.fix(name)})

    def fix(self, name: str) -> str:
        hint = did_you_mean(name, self.names())
        return f"{hint}use an installed {self.noun}, or install the package that provides '{name}'"

    def _entry_points(self, name: str | None = None) -> list[EntryPoint]:
        allowed = allowed_distributions()
        found = _group_entry_points(self.group)
        chosen = [
            ep
            for ep in found
            if (name is None or ep.name == name)
            and (allowed is None or _distribution(ep) in allowed)
        ]
        # the harness's own first, then by name
        return sorted(chosen, key=self._rank)

    def _rank(self, ep: EntryPoint) -> tuple[bool, int, str]:
        own = _distribution(ep) == OWN_DISTRIBUTION
        return (not own, self._first.get(ep.name, len(self._first)) if own else 0, ep.name)

    def _load(self, ep: EntryPoint) -> T:
        try:
            loaded: T = ep.load()
        except ImportError as exc:
            dist = _distribution(ep) or ep.value.split(":")[0]
            raise ConfigError(
                f"{self.noun} plugin '{ep.name}' failed to import: {exc}",
                field=self.field,
                fix=f"reinstall or repair the package '{dist}'",
            ) from None
        return loaded


@functools.cache
def _group_entry_points(group: str) -> tuple[EntryPoint, ...]:
    """The group's entry points, read once per process: each reading opens every installed
    distribution's metadata (~2 ms per registry lookup with a data-science stack installed)."""
    return tuple(entry_points(group=group))


def _distribution(ep: EntryPoint) -> str | None:
    return ep.dist.name if ep.dist is not None else None


# The two registries a config names directly. They live here, on the ground floor, because the
# config's validation (below providers and layers) must find a provider's or a guard kind's own
# keys; the classes are imported through the entry point only when a config names them.
PROVIDERS: Registry[type] = Registry(
    "harness.providers", "provider", "provider", first=("openai", "anthropic", "llamacpp")
)
GUARD_KINDS: Registry[type] = Registry(
    "harness.guards", "guard kind", "kind", first=("keywords", "model", "moderation")
)


def options_model(cls: type) -> type[BaseModel]:
    """The pydantic model of a plugin's own config keys (`Options`), or one that takes none."""
    found = getattr(cls, "Options", PluginOptions)
    return found if isinstance(found, type) and issubclass(found, BaseModel) else PluginOptions


def owner_of(key: str, registry: Registry[type]) -> str | None:
    """The installed entry whose options declare `key`, for "'x' applies only to 'y'"."""
    owners = (n for n, c in registry.all().items() if key in options_model(c).model_fields)
    return next(owners, None)


def unknown_keys(
    title: str, given: Mapping[str, Any], allowed: Iterable[str]
) -> ValidationError | None:
    """A validation error for each key of `given` outside `allowed`, located at the key and
    carrying its fix ("did you mean", the allowed keys): for models whose allowed keys depend on
    a plugin (a model's provider, a guard's kind). None when every key is allowed."""
    names = sorted(set(allowed))
    errors: list[InitErrorDetails] = [
        {
            "type": PydanticCustomError(
                "unknown_key",
                "unknown key '{key}'",
                {
                    "key": key,
                    "fix": f"{did_you_mean(key, names)}remove or rename it; allowed "
                    f"here: {', '.join(names)}",
                },
            ),
            "loc": (key,),
            "input": value,
        }
        for key, value in given.items()
        if key not in names
    ]
    return ValidationError.from_exception_data(title, errors) if errors else None
