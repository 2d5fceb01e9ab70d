"""Experiment configs: the YAML schema and its resolution into configurations."""

from harness.config._load import (
    Configuration,
    LoadedConfig,
    load_config,
    parse_config,
    required_secrets,
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
    "ColumnMap",
    "Configuration",
    "ConfigurationSpec",
    "DeploymentSpec",
    "ExperimentConfig",
    "FileRef",
    "GenerationParams",
    "GraderSpec",
    "LoadedConfig",
    "MatrixEntry",
    "MatrixSpec",
    "ModelSpec",
    "RetrySpec",
    "SuiteSpec",
    "load_config",
    "parse_config",
    "required_secrets",
]
