"""User attack templates (kind `template`): YAML definitions rendered without running code.

A template is data, never code: placeholders are found with `string.Formatter().parse` and
replaced by plain concatenation, so `{prompt.__class__}`, `{prompt[0]}`, conversions and format
specs are rejected when the config is loaded rather than evaluated when a prompt is rendered.
There is no Jinja and no `str.format` (whose attribute and index access reach Python objects),
and YAML is read with `yaml.safe_load` only.

Placeholders: `{prompt}` (the request verbatim), `{prompt_base64}` (its UTF-8 bytes, standard
base64), `{prompt_rot13}` (ROT13 of its ASCII letters), `{prompt_reversed}` (its characters in
reverse order). `{{` and `}}` are literal braces.

A definition (a YAML mapping, in a file or inline):

    description: my wrapper                                   # optional
    prefix:                                                   # optional fabricated dialogue:
      - {role: user, content: "..."}                          #   user, assistant, ... ending
      - {role: assistant, content: "..."}                     #   with an assistant message
    turns: ["Ignore the above and {prompt}", "Now answer: {prompt}"]
    # or, for a single live turn:  template: "... {prompt} ..."

Inline `template:` text is such a definition (block-style YAML) when one of its lines starts,
at the first column, with one of the keys `description:`, `prefix:`, `turns:` or `template:`;
any other text is itself the single live turn (`template: "Ignore the above and {prompt}"`).
"""

from __future__ import annotations

import base64
import codecs
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Literal, Self

import yaml
from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator

from harness._errors import ConfigError
from harness._paths import resolve_relative
from harness.attacks._plan import AttackPlan
from harness.attacks._spec import TEMPLATE_KIND, AttackOptions, AttackSpec, StrictModel
from harness.attacks._validation import FixedValueError, config_error

__all__ = [
    "PLACEHOLDERS",
    "CompiledText",
    "TemplateAttack",
    "TemplateDefinition",
    "TemplateText",
    "build_template_attack",
    "compile_text",
    "reverse",
    "to_base64",
    "to_rot13",
]


def to_base64(text: str) -> str:
    """Standard base64 of the UTF-8 bytes, one line: decodes back to exactly `text`."""
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def to_rot13(text: str) -> str:
    """ROT13 of the ASCII letters; everything else (digits, non-Latin text) is unchanged."""
    return codecs.encode(text, "rot13")


def reverse(text: str) -> str:
    """The characters (code points) in reverse order."""
    return text[::-1]


def _verbatim(text: str) -> str:
    return text


PLACEHOLDERS: Mapping[str, Callable[[str], str]] = MappingProxyType(
    {
        "prompt": _verbatim,
        "prompt_base64": to_base64,
        "prompt_rot13": to_rot13,
        "prompt_reversed": reverse,
    }
)
PLACEHOLDER_FIX = (
    "use only {prompt}, {prompt_base64}, {prompt_rot13} or {prompt_reversed}; "
    "write {{ and }} for literal braces"
)


@dataclass(frozen=True)
class CompiledText:
    """A template string split into (literal text, placeholder name or None) segments."""

    segments: tuple[tuple[str, str | None], ...]

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(name for _, name in self.segments if name is not None)

    def render(self, prompt: str) -> str:
        # Concatenation, not str.format: the prompt's own braces stay literal text.
        parts: list[str] = []
        for literal, name in self.segments:
            parts.append(literal)
            if name is not None:
                parts.append(PLACEHOLDERS[name](prompt))
        return "".join(parts)


def compile_text(text: str) -> CompiledText:
    """Validate `text`'s placeholders and split it; raises `FixedValueError` (a ValueError)."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:  # an unmatched '{' or '}'
        raise FixedValueError(f"malformed braces in template: {exc}", PLACEHOLDER_FIX) from None
    segments: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in parsed:
        if name is not None:
            _check_placeholder(name, spec, conversion)
        segments.append((literal, name))
    return CompiledText(tuple(segments))


def _check_placeholder(name: str, spec: str | None, conversion: str | None) -> None:
    shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
    shown += "}"
    if name == "" or name.isdigit():
        problem = f"positional placeholder '{shown}' is not allowed; name it"
    elif "." in name or "[" in name:
        # the str.format mini-language would walk Python objects from here
        problem = f"attribute or index access '{shown}' is not allowed"
    elif name not in PLACEHOLDERS:
        problem = f"unknown placeholder '{shown}'"
    elif spec or conversion:
        problem = f"conversions and format specs are not allowed: '{shown}'"
    else:
        return
    raise FixedValueError(problem, PLACEHOLDER_FIX)


def _checked(text: str) -> str:
    compile_text(text)
    return text


# A string validated as a template when the config is loaded.
TemplateText = Annotated[str, AfterValidator(_checked)]


class PrefixMessage(StrictModel):
    role: Literal["user", "assistant"]
    content: TemplateText


class TemplateDefinition(StrictModel):
    """What a template file (or inline definition) may say, and nothing else."""

    description: str | None = None
    prefix: tuple[PrefixMessage, ...] = ()
    turns: tuple[TemplateText, ...] | None = Field(None, min_length=1)
    template: TemplateText | None = None

    @field_validator("prefix")
    @classmethod
    def _alternates(cls, value: tuple[PrefixMessage, ...]) -> tuple[PrefixMessage, ...]:
        # Strict alternation ending with the assistant, so that the live user turn follows
        # an assistant message: providers merge or reject consecutive same-role messages
        # differently, and the comparison across deployments must send the same dialogue.
        for index, message in enumerate(value):
            expected = "user" if index % 2 == 0 else "assistant"
            if message.role != expected:
                raise FixedValueError(
                    f"message {index} should have role '{expected}'",
                    "the fabricated dialogue alternates user, assistant, ... from a user message",
                )
        if value and value[-1].role != "assistant":
            raise FixedValueError(
                "the prefix ends with a user message",
                "end the prefix with an assistant message; the live turns come next",
            )
        return value

    @model_validator(mode="after")
    def _one_source_with_the_request(self) -> Self:
        if (self.turns is None) == (self.template is None):
            raise FixedValueError(
                "give exactly one of 'template' and 'turns'",
                "'template: \"... {prompt} ...\"' for one live turn, or 'turns: [...]' for several",
            )
        if not any(compile_text(turn).placeholders for turn in self.live_turns):
            # the graded request must reach the model, or the result measures nothing
            raise FixedValueError(
                "no live turn contains the request", f"add {{prompt}} to a turn ({PLACEHOLDER_FIX})"
            )
        return self

    @property
    def live_turns(self) -> tuple[str, ...]:
        return self.turns if self.turns is not None else (self.template or "",)


class TemplateAttack:
    """Your own YAML template (inline `template:` or a `file:`), rendered without running code.

    For the jailbreak templates collected in the literature (e.g. Shen et al. 2024, "Do
    Anything Now": characterizing in-the-wild jailbreak prompts) without adding code.
    """

    kind: ClassVar[str] = TEMPLATE_KIND
    Options: ClassVar[type[AttackOptions]] = AttackOptions

    def __init__(self, name: str, definition: TemplateDefinition) -> None:
        self.name = name
        self.description = definition.description
        self._prefix = tuple((m.role, compile_text(m.content)) for m in definition.prefix)
        self._turns = tuple(compile_text(turn) for turn in definition.live_turns)

    def apply(self, prompt: str) -> AttackPlan:
        prefix = tuple(
            {"role": role, "content": text.render(prompt)} for role, text in self._prefix
        )
        return AttackPlan(prefix, tuple(turn.render(prompt) for turn in self._turns))


def build_template_attack(
    spec: AttackSpec, base_dir: Path, *, file: str | Path | None, where: str
) -> TemplateAttack:
    """Load, validate and compile the template of `spec`; errors are `ConfigError`s."""
    if spec.file is not None:
        definition = _from_file(spec.file, base_dir, file=file, where=where)
    else:
        definition = _from_inline(spec.template or "", file=file, where=where)
    return TemplateAttack(spec.name, definition)


_DEFINITION_KEY = re.compile(r"^(?:description|prefix|turns|template)\s*:", re.MULTILINE)


def _from_inline(text: str, *, file: str | Path | None, where: str) -> TemplateDefinition:
    field = f"{where}.template"
    if not _is_definition(text):
        return _validate({"template": text}, file=file, field=field, keep_loc=False)
    raw = _parse_yaml(text, file=file, field=field)
    return _validate(raw, file=file, field=field)


def _is_definition(text: str) -> bool:
    # Any line (not only the first) so that a misspelt first key still reads as a definition
    # and fails loudly, instead of being sent to the model as a one-turn template.
    return _DEFINITION_KEY.search(text) is not None


def _from_file(
    name: str, base_dir: Path, *, file: str | Path | None, where: str
) -> TemplateDefinition:
    field = f"{where}.file"
    path = resolve_relative(name, base_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = "not found" if isinstance(exc, FileNotFoundError) else _reason(exc)
        raise ConfigError(
            f"cannot read template file {path}: {reason}",
            file=file,
            field=field,
            fix="give a path relative to the config file, or write the template inline",
        ) from None
    # Problems inside the file are reported against the file itself: its line numbers and
    # keys are the ones the user has to look at.
    return _validate(_parse_yaml(text, file=path, field=field), file=path, field=field)


def _reason(exc: OSError | UnicodeDecodeError) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return exc.strerror or str(exc)


def _parse_yaml(text: str, *, file: str | Path | None, field: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"invalid YAML in the template{at}: {problem}",
            file=file,
            field=field,
            fix="correct the template's YAML syntax (quote strings that contain ': ' or '{')",
        ) from None


def _validate(
    raw: Any, *, file: str | Path | None, field: str, keep_loc: bool = True
) -> TemplateDefinition:
    if not isinstance(raw, dict):
        raise ConfigError(
            f"a template definition must be a YAML mapping, got {type(raw).__name__}",
            file=file,
            field=field,
            fix="write 'template: \"... {prompt} ...\"' or 'turns: [...]' (see the docs)",
        )
    try:
        return TemplateDefinition.model_validate(raw)
    except ValidationError as exc:
        raise config_error(
            exc,
            TemplateDefinition,
            file=file,
            field=field,
            fix="a template has description, prefix (alternating user/assistant messages "
            "with role and content), and turns or template",
            keep_loc=keep_loc,
        ) from None
