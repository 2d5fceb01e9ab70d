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
      - {name: pair, kind: pair, options: {attacker: gpt-4o-mini, judge: judge-model,
                                           n_streams: 5, n_iterations: 5, max_queries: 20}}

      - {name: tap, kind: tap, options: {attacker: gpt-4o-mini, judge: judge-model, width: 4}}
      - {name: crescendo, kind: crescendo, options: {attacker: gpt-4o-mini, judge: judge-model}}

`pair`, `tap` and `crescendo` are adaptive (`AdaptiveAttack`): an attacker model searches for a
jailbreak, a judge model rates each reply; the runner gives it calls through the models'
channels.
"""

from harness.attacks._adaptive import (
    SUCCESS,
    AdaptiveAttack,
    AdaptiveOptions,
    AskFn,
    ModelAnswer,
    SearchCalls,
    SearchResult,
    TargetAnswer,
    TargetFn,
    parse_rating,
)
from harness.attacks._crescendo import Crescendo, CrescendoOptions, parse_refusal
from harness.attacks._library import (
    ADAPTIVE_ATTACKS,
    BUILTIN_ATTACKS,
    build_attack,
    describe_attacks,
)
from harness.attacks._pair import Pair, PairOptions
from harness.attacks._plan import Attack, AttackPlan
from harness.attacks._spec import (
    NO_ATTACK,
    TEMPLATE_KIND,
    AttackList,
    AttackOptions,
    AttackSpec,
    parse_attacks,
)
from harness.attacks._tap import Tap, TapOptions
from harness.attacks._templates import PLACEHOLDERS

__all__ = [
    "ADAPTIVE_ATTACKS",
    "BUILTIN_ATTACKS",
    "NO_ATTACK",
    "PLACEHOLDERS",
    "SUCCESS",
    "TEMPLATE_KIND",
    "AdaptiveAttack",
    "AdaptiveOptions",
    "AskFn",
    "Attack",
    "AttackList",
    "AttackOptions",
    "AttackPlan",
    "AttackSpec",
    "Crescendo",
    "CrescendoOptions",
    "ModelAnswer",
    "Pair",
    "PairOptions",
    "SearchCalls",
    "SearchResult",
    "Tap",
    "TapOptions",
    "TargetAnswer",
    "TargetFn",
    "build_attack",
    "describe_attacks",
    "parse_attacks",
    "parse_rating",
    "parse_refusal",
]
