"""Experiment configs: the YAML schema and its resolution into configurations."""

from harness.config._layers import (
    DEFAULT_REFUSAL,
    GuardSpec,
    ProviderSideLayer,
    SafetyLayerSpec,
    ToolAccessSpec,
)
from harness.config._load import (
    Configuration,
    LoadedConfig,
    load_config,
    parse_config,
    required_secrets,
    used_models,
)
from harness.config._models import (
    ColumnMap,
    ConfigurationSpec,
    DeploymentSpec,
    ExperimentConfig,
    FileRef,
    GenerationParams,
    GraderSpec,
    MatrixEntry,
    MatrixSpec,
    ModelSpec,
    RetrySpec,
    SuiteSpec,
)

__all__ = [
    "DEFAULT_REFUSAL",
    "ColumnMap",
    "Configuration",
    "ConfigurationSpec",
    "DeploymentSpec",
    "ExperimentConfig",
    "FileRef",
    "GenerationParams",
    "GraderSpec",
    "GuardSpec",
    "LoadedConfig",
    "MatrixEntry",
    "MatrixSpec",
    "ModelSpec",
    "ProviderSideLayer",
    "RetrySpec",
    "SafetyLayerSpec",
    "SuiteSpec",
    "ToolAccessSpec",
    "load_config",
    "parse_config",
    "required_secrets",
    "used_models",
]
