"""A small JSON Schema validator for the subset that tool parameter schemas use.

`jsonschema` is not installed with the harness, and tool schemas need only a handful of keywords,
so validating that subset here is cheaper than a new dependency. A keyword outside the subset is
refused when a schema is declared (`schema_problem`) instead of being silently not enforced.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

__all__ = ["SUPPORTED_KEYWORDS", "SchemaProblem", "json_kind", "schema_problem", "validate"]

_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    # JSON has one number type: 3.0 is an integer to JSON Schema, but True is not (bool is int).
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, Mapping),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}
_BOUNDS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "minimum": (lambda v, b: v >= b, ">="),
    "maximum": (lambda v, b: v <= b, "<="),
    "exclusiveMinimum": (lambda v, b: v > b, ">"),
    "exclusiveMaximum": (lambda v, b: v < b, "<"),
}
_STRUCTURAL = {"type", "properties", "required", "additionalProperties", "enum", "items"}
SUPPORTED_KEYWORDS = frozenset(_STRUCTURAL | set(_BOUNDS))
# Annotations change nothing about validity, so accepting them costs nothing.
_ANNOTATIONS = frozenset({"description", "title", "default", "examples"})


def json_kind(value: Any) -> str:
    """The JSON type name of a parsed value, for error messages."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    names = {str: "string", list: "array", type(None): "null"}
    return "object" if isinstance(value, Mapping) else names.get(type(value), type(value).__name__)


def validate(schema: Mapping[str, Any], value: Any, where: str = "arguments") -> list[str]:
    """Every violation of `schema` by `value`, as "'path': problem" strings; [] when valid."""
    types = schema.get("type")
    if types is not None:
        allowed = [types] if isinstance(types, str) else list(types)
        if not any(_TYPES[t](value) for t in allowed):
            # The remaining keywords assume the type, so stop at the first wrong type.
            return [f"'{where}': expected {' or '.join(allowed)}, got {json_kind(value)}"]
    errors = _enum_errors(schema, value, where) + _bound_errors(schema, value, where)
    if isinstance(value, Mapping):
        errors += _object_errors(schema, value, where)
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            errors += validate(schema["items"], item, f"{where}[{index}]")
    return errors


def _enum_errors(schema: Mapping[str, Any], value: Any, where: str) -> list[str]:
    choices = schema.get("enum")
    if choices is None or any(_same(value, choice) for choice in choices):
        return []
    listed = ", ".join(repr(c) for c in choices)
    return [f"'{where}': must be one of {listed}; got {value!r}"]


def _same(value: Any, choice: Any) -> bool:
    # In JSON true != 1, unlike in Python.
    return isinstance(value, bool) == isinstance(choice, bool) and bool(value == choice)


def _bound_errors(schema: Mapping[str, Any], value: Any, where: str) -> list[str]:
    if not _TYPES["number"](value):
        return []
    return [
        f"'{where}': must be {symbol} {schema[key]}, got {value}"
        for key, (ok, symbol) in _BOUNDS.items()
        if key in schema and not ok(value, schema[key])
    ]


def _object_errors(schema: Mapping[str, Any], value: Mapping[str, Any], where: str) -> list[str]:
    properties: Mapping[str, Any] = schema.get("properties", {})
    prefix = "" if where == "arguments" else f"{where}."
    errors = [
        f"'{prefix}{name}': required property missing"
        for name in schema.get("required", [])
        if name not in value
    ]
    for name, item in value.items():
        if name in properties:
            errors += validate(properties[name], item, f"{prefix}{name}")
        elif schema.get("additionalProperties") is False:
            allowed = ", ".join(properties) or "none"
            errors.append(f"'{prefix}{name}': unexpected property (allowed: {allowed})")
    return errors


class SchemaProblem(NamedTuple):
    """Why a declared schema is unusable: the field (dotted path), the problem and the fix."""

    field: str
    message: str
    fix: str


def schema_problem(schema: Any, field: str) -> SchemaProblem | None:
    """The first problem with a user-declared schema, or None when this validator can apply it."""
    if not isinstance(schema, Mapping):
        return SchemaProblem(
            field,
            f"must be a JSON Schema object, got {json_kind(schema)}",
            "write a mapping such as {type: string, description: ...}",
        )
    unknown = sorted(set(schema) - SUPPORTED_KEYWORDS - _ANNOTATIONS)
    if unknown:
        supported = ", ".join(sorted(SUPPORTED_KEYWORDS | _ANNOTATIONS))
        return SchemaProblem(
            f"{field}.{unknown[0]}",
            f"unsupported JSON Schema keyword '{unknown[0]}'",
            f"remove it (it would not be enforced); supported keywords: {supported}",
        )
    checks = (_type_problem, _enum_problem, _bounds_problem, _object_problem, _items_problem)
    return next((p for check in checks if (p := check(schema, field)) is not None), None)


def _type_problem(schema: Mapping[str, Any], field: str) -> SchemaProblem | None:
    types = schema.get("type")
    if types is None:
        return None
    listed = [types] if isinstance(types, str) else types
    if isinstance(listed, list | tuple) and listed and all(t in _TYPES for t in listed):
        return None
    return SchemaProblem(
        f"{field}.type", f"invalid type {types!r}", f"use one of {', '.join(_TYPES)}"
    )


def _enum_problem(schema: Mapping[str, Any], field: str) -> SchemaProblem | None:
    choices = schema.get("enum")
    if choices is None or (isinstance(choices, list | tuple) and choices):
        return None
    return SchemaProblem(f"{field}.enum", "must be a non-empty list", "list the allowed values")


def _bounds_problem(schema: Mapping[str, Any], field: str) -> SchemaProblem | None:
    for key in _BOUNDS:
        bound = schema.get(key)
        if bound is not None and not (_TYPES["number"](bound) and math.isfinite(bound)):
            return SchemaProblem(
                f"{field}.{key}", f"must be a number, got {bound!r}", "use a number"
            )
    return None


def _object_problem(schema: Mapping[str, Any], field: str) -> SchemaProblem | None:
    properties = schema.get("properties", {})
    if not isinstance(properties, Mapping):
        return SchemaProblem(
            f"{field}.properties", "must be a mapping", "map each parameter name to its schema"
        )
    for name, sub in properties.items():
        problem = schema_problem(sub, f"{field}.properties.{name}")
        if problem is not None:
            return problem
    required = schema.get("required", [])
    is_list = isinstance(required, list | tuple)
    missing = [n for n in required if n not in properties] if is_list else None
    if missing is None or not all(isinstance(n, str) for n in required):
        return SchemaProblem(f"{field}.required", "must be a list of names", "e.g. [to, amount]")
    if missing:
        return SchemaProblem(
            f"{field}.required",
            f"names '{missing[0]}', which is not under 'properties'",
            f"declare it under properties or drop it; properties: {', '.join(properties)}",
        )
    if not isinstance(schema.get("additionalProperties", False), bool):
        return SchemaProblem(
            f"{field}.additionalProperties", "must be true or false", "use false (recommended)"
        )
    return None


def _items_problem(schema: Mapping[str, Any], field: str) -> SchemaProblem | None:
    items = schema.get("items")
    return None if items is None else schema_problem(items, f"{field}.items")
