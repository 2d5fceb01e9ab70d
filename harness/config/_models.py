"""Pydantic models of an experiment config: what the YAML file may say, and nothing else."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from harness._errors import did_you_mean
from harness._plugins import PROVIDERS, PluginOptions, options_model, owner_of, unknown_keys
from harness.attacks import NO_ATTACK, AttackList, AttackSpec
from harness.config._layers import (
    GuardSpec,
    ProviderSideLayer,
    SafetyLayerSpec,
    ToolAccessSpec,
)

__all__ = [
    "ColumnMap",
    "ComparisonSpec",
    "ConfigurationSpec",
    "DeploymentSpec",
    "ExperimentConfig",
    "FileRef",
    "GenerationParams",
    "GraderSpec",
    "MatrixEntry",
    "MatrixSpec",
    "ModelSpec",
    "RetrySpec",
    "SuiteSpec",
]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
# Matrix-expanded configurations are named "model/deployment".
CONFIGURATION_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/+-]*$"


class StrictModel(BaseModel):
    # Unknown keys are errors: a misspelt key silently ignored would change an experiment.
    # defer_build: validators are built at first use, for the models a config uses (~30 ms of
    # the start of every command)
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class GenerationParams(StrictModel):
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(256, gt=0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    seed: int | None = None
    stop: list[str] = Field(default_factory=list)


class RetrySpec(StrictModel):
    max_attempts: int = Field(6, ge=1, le=50, description="tries per request, the first included")
    initial_backoff: float = Field(1.0, ge=0.0)
    max_backoff: float = Field(60.0, ge=0.0)
    max_retry_after: float = Field(300.0, ge=0.0, description="longest Retry-After honoured")


# keys that apply only to models reached over HTTP (a provider class with `remote = True`)
REMOTE_ONLY = ("base_url", "api_key_env", "rpm")


class ModelSpec(StrictModel):
    """A `models` entry. Besides these keys it takes its provider's own (e.g. llamacpp's `path`),
    declared by the provider's `Options` model and validated as strictly (see
    `harness.providers`); `options` holds them, parsed."""

    model_config = ConfigDict(extra="allow", frozen=True)

    provider: str = Field(description="a name from the harness.providers entry points")
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    params: GenerationParams = Field(default_factory=GenerationParams)
    concurrency: int = Field(8, ge=1, le=1024)
    rpm: float | None = Field(None, gt=0)
    timeout: float = Field(120.0, gt=0)
    retry: RetrySpec = Field(default_factory=RetrySpec)
    # what the provider applies to every request to this model, whatever the deployment
    provider_side_layers: list[ProviderSideLayer] = Field(default_factory=list)
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
        """The provider's own keys, parsed by its `Options` model."""
        return self._options

    @field_validator("provider")
    @classmethod
    def _installed(cls, value: str) -> str:
        if PROVIDERS.find(value) is None:
            raise PROVIDERS.unknown_error(value)
        return value

    @field_validator("provider_side_layers", mode="before")
    @classmethod
    def _layer_names(cls, value: Any) -> Any:
        return _layer_name_shorthand(value)

    @model_validator(mode="after")
    def _check_provider_fields(self) -> Self:
        name, plugin = self.provider, PROVIDERS.get(self.provider)
        if not getattr(plugin, "remote", True):
            for key in REMOTE_ONLY:
                if getattr(self, key) is not None:
                    raise ValueError(f"'{key}' does not apply to provider '{name}'; remove it")
        elif not self.model:
            raise ValueError(f"provider '{name}' needs 'model' (the API's model id)")
        own = options_model(plugin)
        extra = self.model_extra or {}
        for key in extra:
            owner = None if key in own.model_fields else owner_of(key, PROVIDERS)
            if owner is not None:
                raise ValueError(f"'{key}' applies only to provider '{owner}'; remove it")
        # a ValidationError raised here keeps its location: models.<name>.<key>
        unknown = unknown_keys("ModelSpec", extra, [*type(self).model_fields, *own.model_fields])
        if unknown is not None:
            raise unknown
        self._options = own.model_validate(extra)
        return self


class FileRef(StrictModel):
    file: str


class DeploymentSpec(StrictModel):
    description: str | None = None
    system_prompt: str | FileRef | None = None
    safety_layer: SafetyLayerSpec | None = None
    tools: ToolAccessSpec | None = None
    provider_side_layers: list[ProviderSideLayer] = Field(default_factory=list)

    @field_validator("tools", mode="before")
    @classmethod
    def _tool_list_shorthand(cls, value: Any) -> Any:
        # `tools: [send_email, transfer_funds]` is short for `tools: {catalog: [...]}`
        return {"catalog": value} if isinstance(value, list) else value

    @field_validator("provider_side_layers", mode="before")
    @classmethod
    def _layer_names(cls, value: Any) -> Any:
        return _layer_name_shorthand(value)

    def guards(self) -> list[GuardSpec]:
        layer = self.safety_layer
        return [*layer.input, *layer.output] if layer else []


class ConfigurationSpec(StrictModel):
    name: str | None = Field(None, pattern=CONFIGURATION_NAME_PATTERN)
    model: str
    deployment: str


class MatrixSpec(StrictModel):
    models: list[str] = Field(min_length=1)
    deployments: list[str] = Field(min_length=1)


class MatrixEntry(StrictModel):
    matrix: MatrixSpec


class ComparisonSpec(StrictModel):
    """A pair of configurations the report compares although they are not like for like."""

    a: str = Field(pattern=CONFIGURATION_NAME_PATTERN, description="a configuration name")
    b: str = Field(pattern=CONFIGURATION_NAME_PATTERN, description="another configuration name")
    label: str | None = Field(None, description="what the pair stands for, e.g. headline")

    @model_validator(mode="after")
    def _two_configurations(self) -> Self:
        if self.a == self.b:
            raise ValueError(f"a comparison needs two different configurations (a = b = {self.a})")
        return self


class ColumnMap(StrictModel):
    id: str | None = "id"
    prompt: str = "prompt"
    category: str | None = "category"
    harmful: str | None = "harmful"
    targets: str | None = Field(
        "targets", description="harmful target actions for tool-access runs (list or JSON text)"
    )


class SuiteSpec(StrictModel):
    name: str = Field(pattern=NAME_PATTERN)
    source: str = Field(description="a local file, or hf:org/name for a Hugging Face dataset")
    format: Literal["auto", "jsonl", "json", "csv", "parquet"] = "auto"
    split: str = "train"
    subset: str | None = None
    revision: str | None = None
    columns: ColumnMap = Field(default_factory=ColumnMap)
    harmful: bool = Field(True, description="harmful flag for rows without a harmful column")
    limit: int | None = Field(None, ge=1)
    shuffle_seed: int | None = None


class GraderSpec(StrictModel):
    name: str = Field(description="registry name or module:attr")
    id: str | None = Field(None, pattern=NAME_PATTERN, description="rater name; default: name")
    options: dict[str, Any] = Field(default_factory=dict)
    primary: bool = False

    @property
    def rater(self) -> str:
        return self.id or self.name.rsplit(":", 1)[-1]


class PriceSpec(StrictModel):
    input: float = Field(ge=0, description="USD per million prompt tokens")
    output: float = Field(ge=0, description="USD per million completion tokens")

    def cost(self, prompt_tokens: float, completion_tokens: float) -> float:
        """USD for this many tokens: the one cost formula (budgets and reports use it)."""
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1_000_000


class BudgetSpec(StrictModel):
    max_cost: float | None = Field(None, gt=0, description="USD; needs `prices` for every model")
    max_requests: int | None = Field(None, ge=1, description="model requests, retries included")


class ExperimentConfig(StrictModel):
    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = None
    models: dict[str, ModelSpec] = Field(min_length=1)
    deployments: dict[str, DeploymentSpec] = Field(min_length=1)
    configurations: list[ConfigurationSpec | MatrixEntry] = Field(min_length=1)
    suites: list[SuiteSpec] = Field(min_length=1)
    samples: int = Field(1, ge=1)
    seed: int = 0
    attacks: AttackList = Field(default_factory=lambda: [AttackSpec(name=NO_ATTACK)])
    graders: list[GraderSpec] = Field(min_length=1)
    output: str | None = None
    prices: dict[str, PriceSpec] = Field(
        default_factory=dict, description="model name → USD per million tokens"
    )
    budget: BudgetSpec | None = None
    # report-only: which pairs besides the like-for-like ones the paired comparisons show
    comparisons: list[ComparisonSpec] = Field(default_factory=list)

    @field_validator("configurations", mode="before")
    @classmethod
    def _one_entry_is_a_list(cls, value: Any) -> Any:
        # `configurations: {matrix: ...}` is the common case; accept it as a one-item list.
        return [value] if isinstance(value, dict) else value

    @field_validator("configurations")
    @classmethod
    def _check_references(
        cls, value: list[ConfigurationSpec | MatrixEntry], info: ValidationInfo
    ) -> list[ConfigurationSpec | MatrixEntry]:
        # models and deployments are declared (so validated) first; skip if they failed
        models, deployments = info.data.get("models"), info.data.get("deployments")
        for index, entry in enumerate(value):
            pairs = (
                [(m, d) for m in entry.matrix.models for d in entry.matrix.deployments]
                if isinstance(entry, MatrixEntry)
                else [(entry.model, entry.deployment)]
            )
            for model, deployment in pairs:
                if models is not None:
                    _require(model, models, "model", "models", index)
                if deployments is not None:
                    _require(deployment, deployments, "deployment", "deployments", index)
        return value

    @field_validator("deployments")
    @classmethod
    def _guard_models_exist(
        cls, value: dict[str, DeploymentSpec], info: ValidationInfo
    ) -> dict[str, DeploymentSpec]:
        models = info.data.get("models")
        for name, deployment in value.items():
            for guard in deployment.guards():
                for model in guard.models():
                    if models is not None and model not in models:
                        known = ", ".join(sorted(models))
                        raise ValueError(
                            f"deployment '{name}' has a guard using undefined model '{model}';"
                            f" define it under 'models' (defined: {known})"
                        )
        return value

    @field_validator("suites")
    @classmethod
    def _unique_suites(cls, value: list[SuiteSpec]) -> list[SuiteSpec]:
        _require_unique([s.name for s in value], "suite name")
        return value

    @field_validator("graders")
    @classmethod
    def _check_graders(cls, value: list[GraderSpec], info: ValidationInfo) -> list[GraderSpec]:
        _require_unique([g.rater for g in value], "grader id")
        models = info.data.get("models")
        for index, spec in enumerate(value):
            judge = spec.options.get("model")
            if models is not None and judge is not None and judge not in models:
                raise ValueError(
                    f"grader {index} ('{spec.rater}') uses undefined model '{judge}'; "
                    f"define it under 'models' (defined: {', '.join(sorted(models))})"
                )
        primaries = [g for g in value if g.primary]
        if len(value) > 1 and len(primaries) != 1:
            raise ValueError(
                f"exactly one grader must have 'primary: true' (found {len(primaries)})"
            )
        return value

    @model_validator(mode="after")
    def _prices_cover_models(self) -> Self:
        if not self.prices and not (self.budget and self.budget.max_cost):
            return self
        unknown = sorted(set(self.prices) - set(self.models))
        if unknown:
            raise ValueError(f"prices name undefined model(s) {', '.join(unknown)}")
        missing = sorted(set(self.models) - set(self.prices))
        if missing:
            raise ValueError(
                f"the price table does not cover model(s) {', '.join(missing)}; add "
                f"`prices: {{{missing[0]}: {{input: ..., output: ...}}}}` (USD per million tokens)"
            )
        return self

    @property
    def primary_grader(self) -> GraderSpec:
        return next((g for g in self.graders if g.primary), self.graders[0])


def _require(name: str, table: dict[str, Any], kind: str, section: str, index: int) -> None:
    if name not in table:
        known = ", ".join(sorted(table)) or "none"
        hint = did_you_mean(name, table)
        raise ValueError(
            f"entry {index} names unknown {kind} '{name}'; {hint}define it under '{section}' "
            f"(defined: {known})"
        )


def _require_unique(names: list[str], kind: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"duplicate {kind} '{name}'; give each one a distinct name")
        seen.add(name)


def _layer_name_shorthand(value: Any) -> Any:
    """`provider_side_layers: [name, ...]` is short for `[{name: ...}, ...]`."""
    if isinstance(value, list):
        return [{"name": v} if isinstance(v, str) else v for v in value]
    return value
