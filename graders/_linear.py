"""A multinomial logistic regression stored as plain numbers: trained offline with
scikit-learn (`tests/data/grader_validity/train.py`), shipped as JSON in the package, scored
here without scikit-learn, deterministically and with nothing downloaded."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness._errors import ConfigError

__all__ = ["LinearModel"]


@dataclass(frozen=True)
class LinearModel:
    labels: tuple[str, ...]
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[tuple[float, ...], ...]  # one row per label
    bias: tuple[float, ...]
    trained_on: str

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        try:
            raw: Any = json.loads(path.read_text(encoding="utf-8"))
            model = cls(
                labels=tuple(raw["labels"]),
                features=tuple(raw["features"]),
                mean=tuple(map(float, raw["mean"])),
                scale=tuple(map(float, raw["scale"])),
                weights=tuple(tuple(map(float, row)) for row in raw["weights"]),
                bias=tuple(map(float, raw["bias"])),
                trained_on=str(raw["trained_on"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"cannot read the learned model: {exc}",
                file=path,
                fix="reinstall the harness package",
            ) from None
        width = len(model.features)
        shapes = {len(model.mean), len(model.scale), *(len(row) for row in model.weights)}
        if shapes != {width} or not len(model.weights) == len(model.labels) == len(model.bias):
            raise ConfigError(
                "the learned model's arrays do not match its feature list",
                file=path,
                fix="retrain it with tests/data/grader_validity/train.py",
            )
        return model

    def probabilities(self, values: Mapping[str, float]) -> dict[str, float]:
        x = [
            (float(values[name]) - m) / s if s else 0.0
            for name, m, s in zip(self.features, self.mean, self.scale, strict=True)
        ]
        scores = [
            b + sum(w * v for w, v in zip(row, x, strict=True))
            for row, b in zip(self.weights, self.bias, strict=True)
        ]
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        total = sum(exps)
        return {label: e / total for label, e in zip(self.labels, exps, strict=True)}

    def predict(self, values: Mapping[str, float]) -> tuple[str, float]:
        probabilities = self.probabilities(values)
        # ties go to the first label in the model's order: deterministic
        label = max(self.labels, key=lambda name: probabilities[name])
        return label, probabilities[label]
