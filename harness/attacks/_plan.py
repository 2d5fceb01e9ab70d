"""What an attack produces (`AttackPlan`) and what an attack is (`Attack`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["ROLES", "Attack", "AttackPlan"]

# Only these two roles may be fabricated: a system message belongs to the deployment, and an
# attack that could set it would blur the model × deployment comparison the harness exists for.
ROLES = frozenset({"user", "assistant"})


@dataclass(frozen=True)
class AttackPlan:
    """The messages one attack sends for one base prompt.

    `prefix` is fabricated prior dialogue, sent as-is before the live turns, each message a
    `{"role": "user" | "assistant", "content": str}` mapping. `turns` are the live user turns,
    at least one: the runner sends the first, appends the model's real reply, sends the next,
    and so on; the reply to the last turn is the one that is graded.
    """

    prefix: tuple[dict[str, str], ...]
    turns: tuple[str, ...]

    def __post_init__(self) -> None:
        # A malformed plan is a bug in an attack, not a user error: fail loudly and early,
        # before anything is sent or stored.
        if not self.turns:
            raise ValueError("an attack plan needs at least one live turn")
        if not all(isinstance(turn, str) for turn in self.turns):
            raise TypeError("every live turn must be a string")
        for index, message in enumerate(self.prefix):
            _check_message(index, message)

    @classmethod
    def single(cls, text: str) -> AttackPlan:
        """A plan of one live turn and no fabricated history: what most attacks produce."""
        return cls((), (text,))

    @property
    def final_turn(self) -> str:
        """The live turn whose reply is graded."""
        return self.turns[-1]


def _check_message(index: int, message: dict[str, str]) -> None:
    if set(message) != {"role", "content"}:
        raise ValueError(f"prefix[{index}] must have exactly the keys 'role' and 'content'")
    if message["role"] not in ROLES:
        raise ValueError(f"prefix[{index}] has role {message['role']!r}; use user or assistant")
    if not isinstance(message["content"], str):
        raise TypeError(f"prefix[{index}] content must be a string")


@runtime_checkable
class Attack(Protocol):
    """Turns one base prompt (a request from a suite) into the plan sent to the model.

    `apply` must be deterministic (the same prompt gives an equal plan: resuming a run and
    `--force` compare requests) and must keep the full original request recoverable.
    """

    @property
    def name(self) -> str:
        """The name results are keyed by (the spec's `name`, not its kind)."""
        ...

    def apply(self, prompt: str) -> AttackPlan: ...
