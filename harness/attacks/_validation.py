"""Turning a pydantic `ValidationError` into the one-line `ConfigError` users see."""

from __future__ import annotations

import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from harness._errors import ConfigError, did_you_mean

__all__ = ["FixedValueError", "config_error", "dotted"]


class FixedValueError(ValueError):
    """A validator's error that knows its fix; `config_error` puts the fix in the message."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


def config_error(
    exc: ValidationError,
    annotation: Any,
    *,
    file: str | Path | None,
    field: str,
    fix: str,
    keep_loc: bool = True,
) -> ConfigError:
    """The first error of `exc` as a ConfigError located at `field` + the error's location.

    `annotation` (the model or type that was validated) lets an unknown key be answered with
    the keys allowed at that place; `fix` is used when the error carries no better one;
    `keep_loc=False` reports `field` alone (when the validated structure is not what the user
    wrote, its locations would mislead).
    """
    error = exc.errors()[0]
    loc = tuple(error["loc"])
    where = _join(field, dotted(loc)) if keep_loc else field
    cause = (error.get("ctx") or {}).get("error")
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(annotation, loc[:-1])
        return ConfigError(
            f"unknown key '{loc[-1]}'", file=file, field=where, fix=_key_fix(str(loc[-1]), allowed)
        )
    message = str(error["msg"]).removeprefix("Value error, ")
    better = cause.fix if isinstance(cause, FixedValueError) else None
    return ConfigError(message, file=file, field=where, fix=better or fix)


def dotted(loc: Sequence[int | str]) -> str:
    """('turns', 1, 'content') → 'turns[1].content', the way the config is written."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _join(field: str, inner: str) -> str:
    if not inner:
        return field
    return f"{field}{inner}" if inner.startswith("[") else f"{field}.{inner}"


def _key_fix(key: str, allowed: list[str]) -> str:
    if not allowed:
        return "remove it (nothing may be set here)"
    hint = did_you_mean(key, allowed)
    return f"{hint}remove or rename it; allowed here: {', '.join(sorted(allowed))}"


def _allowed_keys(annotation: Any, loc: Sequence[int | str]) -> list[str]:
    """The field names of the model found by walking `loc` down from `annotation`."""
    for part in loc:
        annotation = _child(annotation, part)
    target = _model_in(annotation)
    return list(target.model_fields) if target is not None else []


def _child(annotation: Any, part: int | str) -> Any:
    annotation = _strip_optional(annotation)
    target = _model_in(annotation)
    if target is not None and isinstance(part, str):
        field = target.model_fields.get(part)
        return field.annotation if field is not None else None
    # an index into a list or tuple: its item type
    args = [a for a in get_args(annotation) if a is not Ellipsis]
    return args[0] if args and isinstance(part, int) else None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    annotation = _strip_optional(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _strip_optional(annotation: Any) -> Any:
    # `X | None` → X: None never has keys or items
    if isinstance(annotation, types.UnionType) or get_origin(annotation) is Union:
        members = [a for a in get_args(annotation) if a is not type(None)]
        return members[0] if len(members) == 1 else annotation
    return annotation
