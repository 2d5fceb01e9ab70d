"""Did each deployment reach the model? Checks that `harness run` and the report both head with.

A server can drop what a deployment adds without an error: tools it ignores unless a
`tool_choice` is sent, system messages a chat template leaves out. The attempts then look
like any others, and the comparison compares nothing. Two traces give it away: a tool-access
configuration whose attempts never call a tool, and a system-prompt configuration whose
prompt token counts equal those of the same model without one, item for item.

Plain SQL over the store, no pandas: the run summary prints these with or without a report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from harness.store import Manifest, RunStore

__all__ = ["reach_warnings"]


def reach_warnings(store: RunStore, manifest: Manifest) -> list[str]:
    configurations = [c for c in manifest.configurations if "name" in c]
    return [*_no_tool_calls(store, configurations), *_system_prompt_unseen(store, configurations)]


def _no_tool_calls(store: RunStore, configurations: Sequence[Mapping[str, Any]]) -> list[str]:
    found = []
    for conf in configurations:
        if not conf.get("tools") or store.made_tool_calls(conf["name"]):
            continue
        answered = store.answered(conf["name"])
        if answered:
            found.append(
                f"{conf['name']}: tool access, but none of its {answered} answered attempts "
                "called a tool; the tools may not have reached the model (a server that "
                "ignores them, a chat template without tools): its action rate measures nothing"
            )
    return found


def _system_prompt_unseen(
    store: RunStore, configurations: Sequence[Mapping[str, Any]]
) -> list[str]:
    found = []
    for a in configurations:
        if not a.get("system_prompt"):
            continue
        for b in configurations:
            if not _raw_counterpart(a, b):
                continue
            same = store.same_prompt_tokens(a["name"], b["name"])
            if same:
                found.append(
                    f"{a['name']}: its prompt token counts equal those of {b['name']} (no system "
                    f"prompt) on all {same} items both ran; the system prompt may not have "
                    "reached the model (a server or chat template that drops system messages)"
                )
    return found


def _raw_counterpart(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """b: the same model, without a system prompt, offered the same tools as a."""
    return (
        b is not a
        and b.get("model") == a.get("model")
        and not b.get("system_prompt")
        and _canon(b.get("tools")) == _canon(a.get("tools"))
    )


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
