"""Prompt templates with named placeholders, rendered by plain substitution (no code runs)."""

from __future__ import annotations

import string
from collections.abc import Mapping

from harness._errors import ConfigError

__all__ = ["check_template", "render_template"]


def check_template(text: str, allowed: set[str], *, file: str | None, field: str) -> None:
    """Reject unknown placeholders and any attribute/index access or format spec."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ConfigError(
            f"template is malformed: {exc}",
            file=file,
            field=field,
            fix="balance the braces; write {{ and }} for literal braces",
        ) from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in allowed or spec or conversion:
            raise ConfigError(
                f"template has unknown placeholder {{{name}}}",
                file=file,
                field=field,
                fix=f"use only {', '.join('{' + a + '}' for a in sorted(allowed))}",
            )


def render_template(text: str, values: Mapping[str, str]) -> str:
    out: list[str] = []
    for literal, name, _, _ in string.Formatter().parse(text):
        out.append(literal)
        if name is not None:
            out.append(values[name])
    return "".join(out)
