"""Config of deployment layers: safety guards, tool access, provider-side layers."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "DEFAULT_REFUSAL",
    "CustomToolSpec",
    "GuardSpec",
    "ProviderSideLayer",
    "SafetyLayerSpec",
    "TemplateFile",
    "ToolAccessSpec",
]

DEFAULT_REFUSAL = "I'm sorry, but I can't help with that request."


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TemplateFile(_Strict):
    file: str


class GuardSpec(_Strict):
    """One check on a user turn (input) or a reply (output)."""

    kind: Literal["keywords", "model", "moderation"]
    name: str | None = Field(None, description="label in results; default: the kind")
    # keywords: block when any phrase (substring) or regular expression matches
    phrases: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)
    case_sensitive: bool = False
    # model: a model declared under `models`, prompted with a template, its output parsed
    model: str | None = None
    template: str | TemplateFile | None = Field(
        None, description="prompt with {role} and {content}; default: a Llama-Guard-style one"
    )
    parse: Literal["llama_guard", "json"] = "llama_guard"
    # moderation: an OpenAI-compatible /v1/moderations endpoint
    base_url: str | None = None
    api_key_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    moderation_model: str | None = None
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="category → score at or above which to block"
    )
    concurrency: int = Field(8, ge=1)
    timeout: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> Self:
        needed = {
            "keywords": ("phrases", "patterns"),
            "model": ("model",),
            "moderation": ("base_url",),
        }[self.kind]
        if not any(getattr(self, key) for key in needed):
            raise ValueError(f"a '{self.kind}' guard needs {' or '.join(needed)}")
        foreign = {
            "keywords": ("model", "template", "base_url", "moderation_model", "api_key_env"),
            "model": ("phrases", "patterns", "base_url", "moderation_model", "api_key_env"),
            "moderation": ("phrases", "patterns", "model", "template"),
        }[self.kind]
        for key in foreign:
            if getattr(self, key):
                raise ValueError(f"'{key}' does not apply to a '{self.kind}' guard; remove it")
        return self

    @field_validator("thresholds")
    @classmethod
    def _scores_in_range(cls, value: dict[str, float]) -> dict[str, float]:
        for category, threshold in value.items():
            if not 0.0 <= threshold <= 1.0:
                raise ValueError(f"threshold for '{category}' must be within [0, 1]")
        return value

    @property
    def label(self) -> str:
        return self.name or (f"model:{self.model}" if self.kind == "model" else self.kind)


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
