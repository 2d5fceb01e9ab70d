"""Shared fixtures. Tests see only the harness's own graders, never whatever is installed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.testing import ScriptedServer

os.environ["HARNESS_LOAD_PLUGINS"] = ""
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO / "tests" / "data" / "reference"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


@pytest.fixture
def shared_data() -> Path:
    assert SHARED_DATA.is_dir(), f"reference data missing from the repo: {SHARED_DATA}"
    return SHARED_DATA
