"""The plan: every (configuration × suite item × attack × sample) request, in a fixed order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from harness._errors import ConfigError
from harness.attacks import NO_ATTACK, AdaptiveAttack, Attack, build_attack
from harness.config import Configuration, GenerationParams, LoadedConfig
from harness.core import attempt_key, digest
from harness.providers import request_identity
from harness.runner._material import request_material
from harness.suites import LoadedSuite, SuiteItem, load_suite

__all__ = ["NO_ATTACK", "Plan", "Shard", "WorkItem", "build_plan"]


@dataclass(frozen=True)
class WorkItem:
    configuration: Configuration
    item: SuiteItem
    attack: str
    sample_index: int
    params: GenerationParams
    messages: tuple[dict[str, Any], ...]  # before the live turns: system prompt, attack prefix
    turns: tuple[str, ...]  # live user turns, sent one after another
    model_identity: str  # digest of the model, its fixed parameters and the deployment
    # an attack that searches (PAIR...): the runner sends what it asks instead of `turns`
    adaptive: AdaptiveAttack | None = None

    @cached_property
    def attempt_id(self) -> str:
        return attempt_key(
            self.configuration.name,
            self.item.suite,
            self.item.item_id,
            self.attack,
            self.sample_index,
        )

    @cached_property
    def request_hash(self) -> str:
        """What is actually sent: a changed model, prompt or parameter changes it."""
        sent = [self.model_identity, self.params.seed, self.messages, self.turns]
        if self.adaptive is not None:  # its options and templates decide what is sent
            sent.append(self.adaptive.identity)
        return digest(sent)


@dataclass(frozen=True)
class Shard:
    """A deterministic slice of the items: every configuration, attack and sample of an item
    lands in the same shard, whatever machine computes it."""

    index: int  # 0-based, as Slurm's SLURM_ARRAY_TASK_ID or Kubernetes' JOB_COMPLETION_INDEX
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        index, sep, count = text.partition("/")
        try:
            shard = cls(int(index), int(count))
        except ValueError:
            shard = cls(-1, 0)
        if not sep or not 0 <= shard.index < shard.count:
            raise ConfigError(
                f"shard {text!r} is out of range",
                field="--shard",
                fix="write i/N with 0 <= i < N, e.g. --shard 0/4 ... --shard 3/4",
            )
        return shard

    def holds(self, item: SuiteItem) -> bool:
        return int(digest([item.suite, item.item_id], 12), 16) % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(frozen=True)
class Plan:
    config: LoadedConfig
    suites: tuple[LoadedSuite, ...]
    attacks: tuple[Attack, ...]
    shard: Shard | None = None

    @cached_property
    def _adaptive(self) -> dict[str, AdaptiveAttack | None]:
        # isinstance against a runtime-checkable Protocol walks its members: ~15 us, once per
        # attack here instead of once per work item
        return {a.name: a if isinstance(a, AdaptiveAttack) else None for a in self.attacks}

    @cached_property
    def _identities(self) -> dict[str, str]:
        base_dir = self.config.base_dir
        return {c.name: model_identity(c, base_dir) for c in self.config.configurations}

    @property
    def samples(self) -> int:
        return self.config.spec.samples

    @cached_property
    def n_items(self) -> int:
        return sum(1 for s in self.suites for item in s.items if self._mine(item))

    def _mine(self, item: SuiteItem) -> bool:
        return self.shard is None or self.shard.holds(item)

    @property
    def size(self) -> int:
        return self.size_of(None)

    def size_of(self, model_name: str | None) -> int:
        """How many work items iter_work(model_name) yields, without walking the plan."""
        configurations = sum(
            1
            for c in self.config.configurations
            if model_name is None or c.model_name == model_name
        )
        return configurations * self.n_items * self.samples * len(self.attacks)

    def iter_work(self, model_name: str | None = None) -> Iterator[WorkItem]:
        """Configurations and attacks are interleaved per item: a partial run covers them all."""
        configurations = [
            c
            for c in self.config.configurations
            if model_name is None or c.model_name == model_name
        ]
        for suite in self.suites:
            for item in filter(self._mine, suite.items):
                for sample in range(self.samples):
                    for attack in self.attacks:
                        for configuration in configurations:
                            yield self._work(configuration, item, attack, sample)

    def _work(
        self, configuration: Configuration, item: SuiteItem, attack: Attack, sample: int
    ) -> WorkItem:
        params = configuration.model.params
        if params.seed is not None and sample:
            # distinct samples need distinct seeds, or sampling repeats itself
            params = params.model_copy(update={"seed": params.seed + sample})
        plan = attack.apply(item.prompt)
        messages: list[dict[str, Any]] = []
        if configuration.system_prompt:
            messages.append({"role": "system", "content": configuration.system_prompt})
        messages.extend(dict(m) for m in plan.prefix)
        identity = self._identities[configuration.name]
        adaptive = self._adaptive[attack.name]
        return WorkItem(
            configuration,
            item,
            attack.name,
            sample,
            params,
            tuple(messages),
            plan.turns,
            identity,
            adaptive,
        )


def model_identity(configuration: Configuration, base_dir: Path | None = None) -> str:
    """Everything about a request but its messages and seed; computed once per configuration.

    With `base_dir`, also what the config only names: guard templates' text, the tools'
    definitions and the model file's digest (a changed one changes every request hash)."""
    model = configuration.model
    material = request_material(configuration, base_dir) if base_dir is not None else None
    return digest(
        {
            "material": material,
            "provider": model.provider,
            "model": model.model,
            "base_url": model.base_url,
            # (every request hash has had these two keys: llamacpp's, None for other providers)
            "path": None,
            "prompt_format": None,
            **request_identity(model),
            "params": model.params.model_dump(mode="json", exclude={"seed"}),
            "deployment": configuration.deployment.model_dump(
                mode="json", exclude={"description", "system_prompt"}
            ),
        }
    )


def build_plan(config: LoadedConfig, shard: Shard | None = None) -> Plan:
    suites = tuple(load_suite(spec, config, i) for i, spec in enumerate(config.spec.suites))
    file = str(config.path)
    attacks = tuple(
        build_attack(
            spec, config.base_dir, file=file, where=f"attacks[{i}]", models=config.spec.models
        )
        for i, spec in enumerate(config.spec.attacks)
    )
    return Plan(config, suites, attacks, shard)
