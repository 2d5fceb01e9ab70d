"""Helpers shared by the CLI tests: run the real `python -m harness` in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

# third-party reference data with published answers, kept in the repo (see its README)
SHARED_DATA = Path(__file__).resolve().parent / "data" / "reference"


def shared_data(*parts: str) -> Path:
    """A path under tests/data/reference; a missing file fails the test, it never skips."""
    path = SHARED_DATA.joinpath(*parts)
    assert path.exists(), f"reference data missing from the repo: {path}"
    return path


def cli_env(tmp_path: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Only the harness's own graders, no network, and the datasets cache under tmp_path."""
    env = dict(os.environ)
    env.update(
        HARNESS_LOAD_PLUGINS="",
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        HF_DATASETS_CACHE=str(tmp_path / ".hf-datasets-cache"),
    )
    env.update(extra or {})
    return env


def harness(
    *args: str | Path, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=dict(env) if env is not None else cli_env(cwd),
        timeout=120,
    )


def assert_user_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 2, one `error:` line on stderr naming every needle, and no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:"), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]
