"""Subscribers as Mesa agents: views over the state arrays, created only when read, and an extension point.

The engine's rules are vectorised over arrays; a ``Subscriber`` agent is a view of one slot, made on first
access (``model.subscribers[slot]``, ``model.network``) and cached, so a run that reads no agent creates none.

Researchers add agent-level behaviour with an ``AgentRule``: a ``Subscriber`` subclass with a ``step`` and a
selector (segments, stages). Each month, at close, after care is delivered and before attitudes are updated,
``step`` is called on every subscriber who matches the selector, in slot order (see docs/model.md 7.17).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import mesa
import numpy as np

from caresim.lifecycle import ACTIVE_STAGES, CHANNELS, GRADES, STAGES, grade_of

if TYPE_CHECKING:
    from caresim.engine.model import CareModel


class Subscriber(mesa.Agent):
    """A subscriber: a Mesa agent whose state lives in the model's arrays at ``slot``.

    Subclass it and define ``step`` to give selected subscribers behaviour of their own (``AgentRule``).
    ``step`` may change the subscriber only through the methods below, which write to the arrays the
    vectorised rules read.
    """

    def __init__(self, model: CareModel, slot: int) -> None:
        super().__init__(model)
        self.slot = slot

    def _get(self, name: str):
        return getattr(self.model.world.state, name)[self.slot]

    @property
    def segment(self) -> str:
        return self.model.world.segments.names[int(self._get("segment"))]

    @property
    def stage(self) -> str:
        return STAGES[int(self._get("stage"))]

    @property
    def tenure_months(self) -> int:
        return int(self._get("tenure"))

    @property
    def in_contract(self) -> bool:
        return bool(self._get("in_contract"))

    @property
    def open_problems(self) -> int:
        return int(self._get("n_open"))

    @property
    def revenue_per_month(self) -> float:
        return float(self._get("revenue"))

    @property
    def satisfaction(self) -> float:
        return float(self._get("satisfaction"))

    @property
    def loyalty(self) -> float:
        return float(self._get("loyalty"))

    @property
    def satisfaction_grade(self) -> str:
        return GRADES[int(grade_of(np.array([self.satisfaction]), **self.model.world.grade_thresholds)[0])]

    @property
    def preferred_channel(self) -> str:
        return CHANNELS[int(self._get("channel"))]

    def ties(self) -> list[Subscriber]:
        """The subscribers this one is tied to, from the Mesa network."""
        return self.model.network.get_neighbors(self.slot)

    def shock_satisfaction(self, delta: float) -> None:
        """Add ``delta`` to this month's satisfaction shock (it moves core satisfaction, like a problem does)."""
        self.model.world.state.shock[self.slot] += delta

    def set_revenue_per_month(self, revenue: float) -> None:
        """Change what the subscriber pays each month from now on (a tariff change)."""
        if not np.isfinite(revenue) or revenue < 0:
            raise ValueError(f"revenue per month: a finite amount >= 0, got {revenue}")
        self.model.world.state.revenue[self.slot] = revenue

    def step(self) -> None:
        """The plain subscriber has no behaviour of its own: the vectorised rules move it."""


@dataclass(frozen=True)
class AgentRule:
    """Apply ``agent.step`` each month to the subscribers of ``segments`` (None: all) in ``stages``."""

    agent: type[Subscriber]
    segments: tuple[str, ...] | None = None
    stages: tuple[str, ...] = tuple(STAGES[s] for s in ACTIVE_STAGES)

    def __post_init__(self) -> None:
        if not (isinstance(self.agent, type) and issubclass(self.agent, Subscriber)):
            raise TypeError(f"AgentRule.agent: a subclass of caresim.Subscriber, got {self.agent!r}")
        unknown = set(self.stages) - set(STAGES)
        if unknown:
            raise ValueError(f"AgentRule.stages: unknown stages {sorted(unknown)}; known: {list(STAGES)}")

    def selected(self, model: CareModel) -> np.ndarray:
        """Slots this rule applies to now, in slot order."""
        world = model.world
        state, names = world.state, world.segments.names
        if self.segments is not None:
            unknown = set(self.segments) - set(names)
            if unknown:
                raise ValueError(f"AgentRule.segments: unknown segments {sorted(unknown)}; known: {list(names)}")
        codes = [STAGES.index(stage) for stage in self.stages]
        mask = np.isin(state.stage, codes)
        if self.segments is not None:
            mask &= np.isin(state.segment, [names.index(name) for name in self.segments])
        return np.flatnonzero(mask)


class SubscriberViews(Mapping[int, Subscriber]):
    """Every subscriber who ever bought, as Mesa agents made on first access (slot -> agent)."""

    def __init__(self, model: CareModel) -> None:
        self._model = model
        self._made: dict[int, Subscriber] = {}

    def get_as(self, slot: int, kind: type[Subscriber]) -> Subscriber:
        """The agent of ``slot`` as an instance of ``kind`` (made, or remade as ``kind``, on first access)."""
        agent = self._made.get(slot)
        if agent is None or type(agent) is not kind:
            if agent is not None:
                agent.remove()
            agent = kind(self._model, slot)
            self._made[slot] = agent
        return agent

    def _slots(self) -> np.ndarray:
        return np.flatnonzero(self._model.world.state.ever_active)

    def __getitem__(self, slot: int) -> Subscriber:
        state = self._model.world.state
        if not (0 <= slot < state.n) or not state.ever_active[slot]:
            raise KeyError(slot)
        return self._made.get(slot) or self.get_as(slot, Subscriber)

    def __iter__(self) -> Iterator[int]:
        return iter(self._slots().tolist())

    def __len__(self) -> int:
        return int(self._model.world.state.ever_active.sum())

    @property
    def n_made(self) -> int:
        """How many agents exist so far."""
        return len(self._made)


def apply_rules(model: CareModel, rules: tuple[AgentRule, ...]) -> None:
    """Call each rule's ``step`` on its selected subscribers (rules in the order given)."""
    for rule in rules:
        for slot in rule.selected(model).tolist():
            model.subscribers.get_as(slot, rule.agent).step()
