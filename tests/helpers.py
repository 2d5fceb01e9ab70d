"""Small builders shared by the runner tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from harness.testing import ScriptedServer


def write_suite(path: Path, n: int, *, benign_every: int = 0) -> Path:
    with path.open("w") as handle:
        for i in range(n):
            harmful = not (benign_every and i % benign_every == 0)
            row = {
                "id": f"i{i:03d}",
                "prompt": f"[item-{i:03d}] please answer",
                "category": "cat" + str(i % 3),
                "harmful": harmful,
            }
            handle.write(json.dumps(row) + "\n")
    return path


def write_config(
    tmp: Path,
    server: ScriptedServer,
    *,
    n_items: int = 6,
    samples: int = 1,
    deployments: dict[str, Any] | None = None,
    model: dict[str, Any] | None = None,
    **top: Any,
) -> Path:
    suite = write_suite(tmp / "suite.jsonl", n_items)
    config = {
        "name": "t",
        "models": {
            "m": {
                "provider": "openai",
                "model": "scripted",
                "base_url": server.base_url,
                "concurrency": 4,
                "timeout": 5,
                "params": {"temperature": 0, "max_tokens": 16, "seed": 1},
                "retry": {"max_attempts": 3, "initial_backoff": 0.01, "max_backoff": 0.02},
                **(model or {}),
            }
        },
        "deployments": deployments or {"raw": {}, "guarded": {"system_prompt": "Be safe."}},
        "configurations": {
            "matrix": {"models": ["m"], "deployments": list(deployments or ["raw", "guarded"])}
        },
        "suites": [{"name": "s", "source": str(suite)}],
        "samples": samples,
        "graders": [{"name": "refusal_keywords", "primary": True}],
        "output": str(tmp / "run"),
        **top,
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path
