"""Config of deployment layers: safety guards, tool access, provider-side layers."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from harness._plugins import GUARD_KINDS, PluginOptions, options_model, owner_of, unknown_keys

__all__ = [
    "DEFAULT_REFUSAL",
    "CustomToolSpec",
    "GuardSpec",
    "ProviderSideLayer",
    "SafetyLayerSpec",
    "ToolAccessSpec",
]

DEFAULT_REFUSAL = "I'm sorry, but I can't help with that request."


class _Strict(BaseModel):
    # defer_build: built at first use, as in harness.config._models
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class GuardSpec(_Strict):
    """One check on a user turn (input) or a reply (output). Besides `kind` and `name` it takes
    the kind's own keys (e.g. a keywords guard's `phrases`), declared by the kind's `Options`
    model and validated as strictly (see `harness.layers`); `options` holds them, parsed."""

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str = Field(description="a name from the harness.guards entry points")
    name: str | None = Field(None, description="label in results; default: the kind's")
    _options: BaseModel = PrivateAttr(default_factory=PluginOptions)

    @model_serializer(mode="wrap")
    def _with_parsed_options(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        # the plugin's keys as parsed (defaults included, values coerced), not as written:
        # the config's hash then changes only when what it means changes
        data: dict[str, Any] = handler(self)
        return data | self._options.model_dump(mode="json" if info.mode_is_json() else "python")

    @property
    def options(self) -> BaseModel:
        """The kind's own keys, parsed by its `Options` model."""
        return self._options

    @field_validator("kind")
    @classmethod
    def _installed(cls, value: str) -> str:
        if GUARD_KINDS.find(value) is None:
            raise GUARD_KINDS.unknown_error(value)
        return value

    @model_validator(mode="after")
    def _kind_options(self) -> Self:
        own = options_model(GUARD_KINDS.get(self.kind))
        extra = self.model_extra or {}
        for key in extra:
            if key not in own.model_fields and owner_of(key, GUARD_KINDS) is not None:
                raise ValueError(f"'{key}' does not apply to a '{self.kind}' guard; remove it")
        # a ValidationError raised here keeps its location: ...input[i].<key>
        unknown = unknown_keys("GuardSpec", extra, [*type(self).model_fields, *own.model_fields])
        if unknown is not None:
            raise unknown
        self._options = own.model_validate(extra)
        return self

    @property
    def label(self) -> str:
        """What results call this guard: its name, else its kind's label for its options."""
        hook = getattr(GUARD_KINDS.get(self.kind), "default_label", None)
        return self.name or (str(hook(self.options)) if hook is not None else self.kind)

    def models(self) -> list[str]:
        """The models under `models` this guard calls."""
        hook = getattr(GUARD_KINDS.get(self.kind), "models", None)
        return list(hook(self.options)) if hook is not None else []

    def secrets(self) -> list[str]:
        """The environment variables holding the keys this guard needs."""
        hook = getattr(GUARD_KINDS.get(self.kind), "secrets", None)
        return list(hook(self.options)) if hook is not None else []


class SafetyLayerSpec(_Strict):
    """Guards around the model, as a deployment would put them."""

    input: list[GuardSpec] = Field(default_factory=list, description="checked before the model")
    output: list[GuardSpec] = Field(default_factory=list, description="checked before the user")
    on_error: Literal["block", "allow"] = Field(
        "block", description="what a guard that fails (error, unparseable) decides"
    )
    refusal_text: str = Field(DEFAULT_REFUSAL, description="shown to the user when blocked")

    @model_validator(mode="after")
    def _has_a_guard(self) -> Self:
        if not self.input and not self.output:
            raise ValueError("a safety_layer needs at least one input or output guard")
        return self


class CustomToolSpec(_Strict):
    """A tool the config declares itself: what the model is told, and its canned result.
    (The parameters' JSON Schema is checked when the tool is built, in validate and run.)"""

    name: str = Field(pattern=r"^[a-zA-Z][a-zA-Z0-9_]{0,63}$")
    description: str = Field(min_length=1, description="what the tool does, as the model reads it")
    parameters: dict[str, Any] | None = Field(None, description="JSON Schema of the arguments")
    returns: str | None = Field(None, description="the observation every call returns")

    def as_raw(self) -> dict[str, Any]:
        """The declaration as written (omitted keys stay omitted)."""
        return self.model_dump(exclude_none=True)


class ToolAccessSpec(_Strict):
    """Agentic access to simulated tools, with a bounded agent loop."""

    catalog: list[str] = Field(default_factory=list, description="names from `harness list tools`")
    custom: list[CustomToolSpec] = Field(
        default_factory=list, description="extra tools: name, description, parameters, returns"
    )
    max_steps: int = Field(6, ge=1, le=100, description="model calls per live turn")
    max_tool_calls: int = Field(12, ge=1, le=500, description="tool calls per attempt")
    fixtures: dict[str, Any] = Field(default_factory=dict, description="seed data of the world")

    @model_validator(mode="after")
    def _has_a_tool(self) -> Self:
        if not self.catalog and not self.custom:
            raise ValueError("tools needs at least one tool under 'catalog' or 'custom'")
        return self


class ProviderSideLayer(_Strict):
    """A layer we cannot switch off, e.g. a vendor's own API moderation."""

    name: str
    description: str | None = None
