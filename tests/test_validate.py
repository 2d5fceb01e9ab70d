"""`harness validate`: the plan's arithmetic with every factor, the guard and judge calls it
implies, each deployment's layers, and every unset key variable at once (a warning)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from _cli_helpers import cli_env, harness

from harness.config import load_config
from harness.runner import build_plan, plan_counts


def _config(tmp_path: Path) -> Path:
    suite = tmp_path / "suite.jsonl"
    with suite.open("w") as handle:
        for k in range(5):
            handle.write(json.dumps({"id": f"i{k}", "prompt": f"p{k}", "harmful": k < 4}) + "\n")
    raw: dict[str, Any] = {
        "name": "v",
        "models": {
            "target": {"provider": "openai", "model": "t", "api_key_env": "I13_TARGET_KEY"},
            "guard": {"provider": "openai", "model": "g", "api_key_env": "I13_GUARD_KEY"},
            "judge": {"provider": "anthropic", "model": "j", "api_key_env": "I13_JUDGE_KEY"},
        },
        "deployments": {
            "raw": {},
            "guarded": {
                "system_prompt": "Be safe.",
                "safety_layer": {
                    "input": [{"kind": "model", "model": "guard"}],
                    "output": [{"kind": "keywords", "phrases": ["recipe"]}],
                },
            },
        },
        "configurations": {"matrix": {"models": ["target"], "deployments": ["raw", "guarded"]}},
        "suites": [{"name": "core", "source": str(suite)}],
        "attacks": ["none", "multi_turn_escalation"],
        "samples": 2,
        "graders": [
            {"name": "refusal_keywords", "primary": True},
            {"name": "llm_judge", "id": "judge", "options": {"model": "judge", "max_reasks": 1}},
        ],
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_counts_every_factor_and_the_calls_beside_the_model(tmp_path: Path) -> None:
    plan = build_plan(load_config(_config(tmp_path)))
    counts = plan_counts(plan)
    turns = len(next(a for a in plan.attacks if a.name != "none").apply("x").turns)
    assert turns > 1  # the multi-turn attack sends several live turns
    assert (counts.configurations, counts.items, counts.attacks, counts.samples) == (2, 5, 2, 2)
    assert counts.attempts == 2 * 5 * 2 * 2
    assert counts.model_requests == 2 * 5 * 2 * (1 + turns)
    # one model guard on the guarded deployment's input, once per live turn; keywords: no call
    assert counts.guard_calls == 5 * 2 * (1 + turns)
    assert (counts.judge_calls, counts.judge_calls_max) == (40, 80)


def test_validate_prints_the_plan_and_warns_of_every_unset_key(tmp_path: Path) -> None:
    env = cli_env(tmp_path, {"I13_GUARD_KEY": "set"})
    for name in ("I13_TARGET_KEY", "I13_JUDGE_KEY"):
        env.pop(name, None)
    result = harness("validate", _config(tmp_path), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "plan: 2 configurations x 5 items x 2 attacks x 2 samples = 40 attempts" in out
    assert "target model requests:" in out and "guard calls: up to" in out
    assert "judge calls: up to 40" in out
    assert "  raw                              no layers (the bare model)" in out
    guarded = next(line for line in out.splitlines() if line.startswith("  guarded "))
    assert 'system prompt (8 chars: "Be safe.")' in guarded
    assert "safety layer: input model:guard; output keywords; on error block" in guarded
    assert "[no system prompt]" not in out
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 2  # both unset keys, at once; the set one is not named
    assert (
        "models.target.api_key_env: environment variable I13_TARGET_KEY is not set" in (warnings[0])
    )
    assert (
        "models.judge.api_key_env: environment variable I13_JUDGE_KEY is not set" in (warnings[1])
    )


def test_one_of_each_is_singular(tmp_path: Path) -> None:
    path = _config(tmp_path)
    raw = yaml.safe_load(path.read_text())
    raw |= {"attacks": ["none"], "samples": 1, "graders": [{"name": "refusal_keywords"}]}
    raw["configurations"] = [{"model": "target", "deployment": "raw"}]
    path.write_text(yaml.safe_dump(raw))
    env = cli_env(tmp_path, {"I13_TARGET_KEY": "x"})
    result = harness("validate", path, cwd=tmp_path, env=env)
    assert "plan: 1 configuration x 5 items x 1 attack x 1 sample = 5 attempts" in result.stdout
    assert "judge calls" not in result.stdout and "guard calls" not in result.stdout
    assert result.stderr == ""
