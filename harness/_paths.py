"""Paths written in a config: relative to the config file's directory, not to where the command
runs, so that a config and the files it names can be moved together."""

from __future__ import annotations

from pathlib import Path

__all__ = ["resolve_relative"]


def resolve_relative(path: str | Path, base_dir: Path) -> Path:
    """`path` with `~` expanded, under `base_dir` (the config's directory) unless absolute."""
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else base_dir / candidate
