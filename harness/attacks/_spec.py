"""The `attacks:` section of an experiment config: `AttackSpec`, and bare names accepted."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from harness._errors import ConfigError
from harness.attacks._validation import FixedValueError, config_error

__all__ = [
    "NAME_PATTERN",
    "NO_ATTACK",
    "TEMPLATE_KIND",
    "AttackList",
    "AttackOptions",
    "AttackSpec",
    "parse_attacks",
]

NO_ATTACK = "none"
TEMPLATE_KIND = "template"
# The same rule as every other name in a config (the config package is not imported: it may
# come to import this package to declare `attacks:`).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class StrictModel(BaseModel):
    # Unknown keys are errors: a misspelt option silently ignored would change an experiment.
    # defer_build: built at first use, as in harness.config._models
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class AttackOptions(StrictModel):
    """Base of an attack's `Options` model; an attack without options uses it as is."""


class AttackSpec(StrictModel):
    """One entry of `attacks:`. Results are keyed by `name`; `kind` picks the transform."""

    name: str = Field(pattern=NAME_PATTERN, description="unique within an experiment")
    kind: str | None = Field(None, description="a built-in attack, or 'template'; default: name")
    template: str | None = Field(None, description="kind 'template': inline template text")
    file: str | None = Field(None, description="kind 'template': a YAML template file")
    options: dict[str, Any] = Field(default_factory=dict)

    @property
    def resolved_kind(self) -> str:
        return self.kind or self.name

    @model_validator(mode="after")
    def _template_source(self) -> Self:
        kind = self.resolved_kind
        if kind == TEMPLATE_KIND and (self.template is None) == (self.file is None):
            raise FixedValueError(
                "kind 'template' needs exactly one of 'template' and 'file'",
                "give 'template' (inline text) or 'file' (a YAML file relative to the config)",
            )
        if kind != TEMPLATE_KIND and (self.template is not None or self.file is not None):
            raise FixedValueError(
                f"'template' and 'file' apply only to kind 'template', not '{kind}'",
                "set 'kind: template' or remove them",
            )
        return self


def _coerce_entries(value: Any) -> Any:
    """A missing section means no attack; a bare name stands for `{name: <it>}`."""
    if value is None:
        return [{"name": NO_ATTACK}]
    if isinstance(value, str):
        value = [value]  # `attacks: base64`: one attack, written without a list
    if isinstance(value, list | tuple):
        if not value:
            raise FixedValueError(
                "the list of attacks is empty", "list 'none' for the plain prompt"
            )
        return [{"name": entry} if isinstance(entry, str) else entry for entry in value]
    return value


def _unique_names(specs: list[AttackSpec]) -> list[AttackSpec]:
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise FixedValueError(
                f"duplicate attack name '{spec.name}' (results are keyed by name)",
                "give each entry a distinct 'name' and the transform as 'kind'",
            )
        seen.add(spec.name)
    return specs


# For a config model: `attacks: AttackList = Field(default_factory=lambda: [AttackSpec(...)])`
# accepts `[none, base64, {name: b64-out, kind: base64, options: {...}}]` and a lone name.
AttackList = Annotated[
    list[AttackSpec], BeforeValidator(_coerce_entries), AfterValidator(_unique_names)
]
_ADAPTER: TypeAdapter[list[AttackSpec]] = TypeAdapter(AttackList)


def parse_attacks(
    raw: Any, *, file: str | Path | None = None, where: str = "attacks"
) -> list[AttackSpec]:
    """Validate the raw `attacks:` value of a config; a `ConfigError` names the entry.

    `None` (the section is absent) gives `[none]`; a string or a list mixing bare names and
    mappings is accepted; names must be unique.
    """
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        raise _entry_error(exc, file, where) from None


def _entry_error(exc: ValidationError, file: str | Path | None, where: str) -> ConfigError:
    return config_error(
        exc,
        list[AttackSpec],
        file=file,
        field=where,
        fix="an attack is a built-in name (see `harness list attacks`) or a mapping with "
        "name, kind, template, file, options",
    )
