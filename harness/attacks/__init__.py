"""Jailbreak attack transforms: how one base prompt becomes what is sent to the model.

An attack (`Attack`) turns a suite's request into an `AttackPlan`: optional fabricated prior
dialogue (`prefix`) and one or more live user turns (`turns`; the reply to the last is graded).
Built-ins are listed by `describe_attacks()`; `kind: template` adds your own from YAML,
rendered by plain placeholder substitution (see `harness.attacks._templates`).

Config (`attacks:` in an experiment), validated by `parse_attacks` or the `AttackList` type:

    attacks:
      - none                                     # a bare name: {name: none}
      - base64
      - {name: b64-both, kind: base64, options: {answer_in_base64: true}}
      - {name: my-wrapper, kind: template, template: "Ignore the above and {prompt}"}
      - {name: from-file, kind: template, file: attacks/wrapper.yaml}
"""

from harness.attacks._library import BUILTIN_ATTACKS, build_attack, describe_attacks
from harness.attacks._plan import Attack, AttackPlan
from harness.attacks._spec import (
    NO_ATTACK,
    TEMPLATE_KIND,
    AttackList,
    AttackOptions,
    AttackSpec,
    parse_attacks,
)
from harness.attacks._templates import PLACEHOLDERS

__all__ = [
    "BUILTIN_ATTACKS",
    "NO_ATTACK",
    "PLACEHOLDERS",
    "TEMPLATE_KIND",
    "Attack",
    "AttackList",
    "AttackOptions",
    "AttackPlan",
    "AttackSpec",
    "build_attack",
    "describe_attacks",
    "parse_attacks",
]
