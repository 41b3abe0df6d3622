"""Subscribers as Mesa agents: views over the state arrays, created only when read, and an extension point.

The engine's rules are vectorised over arrays; a ``Subscriber`` agent is a view of one slot, made on first
access (``model.subscribers[slot]``, ``Subscriber.ties()``, ``model.network``) and cached, so a run that
reads no agent creates none.

Researchers add agent-level behaviour with an ``AgentRule``: a ``Subscriber`` subclass with a ``step`` and a
selector (segments, stages). Each month, at close, after care is delivered and problems recur and before
attitudes are updated, ``step`` is called on every subscriber who matches the selector, in slot order (see
docs/model.md 7.17). While rules step, the state arrays are read-only: a step changes subscribers only
through ``Subscriber.shock_satisfaction`` and ``Subscriber.set_revenue_per_month``.
"""

from __future__ import annotations

import itertools
import math
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from operator import index as as_index
from typing import TYPE_CHECKING, Protocol

import mesa
import numpy as np

from caresim.engine.population import FIELDS, PROGRAMME_FIELDS, SubscriberState
from caresim.lifecycle import ACTIVE_STAGES, CHANNELS, CHURNED, GRADES, LOST, PRESALE, STAGES, grade_of

if TYPE_CHECKING:
    from mesa.space import NetworkGrid

    from caresim.engine.world import World


class AgentHost(Protocol):
    """What agents read of their model (``CareModel`` is one): typed here so agents need not import it."""

    world: World
    subscribers: SubscriberViews
    agent_rules: tuple[AgentRule, ...]

    @property
    def network(self) -> NetworkGrid: ...


#: Stages a rule may select: those a subscriber can be in at the close (prospects are never agents).
RULE_STAGES: tuple[str, ...] = tuple(STAGES[s] for s in (*ACTIVE_STAGES, CHURNED))

_WRITTEN = ("shock", "revenue")  # the only fields a Subscriber method writes
_WRITE_HINT = "change a subscriber only through Subscriber.shock_satisfaction() or Subscriber.set_revenue_per_month()"


def _store(state: SubscriberState, name: str) -> np.ndarray:
    """The array that holds field ``name`` for every slot (``state.<name>`` is a fresh view of it)."""
    return state.__dict__["_" + name]


@contextmanager
def _read_only(state: SubscriberState) -> Iterator[dict[str, np.ndarray]]:
    """Make every state array read-only for the duration; yield writable views of the fields the
    ``Subscriber`` methods write (made before the lock: NumPy does not lock views that already exist)."""
    writable = {name: _store(state, name)[:] for name in _WRITTEN}
    stores = [_store(state, name) for name in (*FIELDS, *PROGRAMME_FIELDS)]
    flags = [store.flags.writeable for store in stores]
    for store in stores:
        store.flags.writeable = False
    try:
        yield writable
    finally:
        for store, flag in zip(stores, flags, strict=True):
            store.flags.writeable = flag


class _AgentCounters(weakref.WeakKeyDictionary):
    """Model -> its counter of agent ids, held weakly.

    Mesa numbers agents from a class-level ``defaultdict`` keyed by the model (``mesa.Agent._ids``), which
    keeps every model that ever made an agent alive, with all its arrays. ``Subscriber`` counts here instead.
    """

    def __getitem__(self, model: mesa.Model) -> Iterator[int]:
        counter = self.get(model)
        if counter is None:
            counter = self[model] = itertools.count(1)
        return counter


class Subscriber(mesa.Agent):
    """A subscriber: a Mesa agent whose state lives in the model's arrays at ``slot``.

    Subclass it and define ``step`` to give selected subscribers behaviour of their own (``AgentRule``).
    Everything but the two methods ``shock_satisfaction`` and ``set_revenue_per_month`` is read-only, and
    while rules step the state arrays themselves are read-only, so ``step`` changes subscribers only through
    these two methods (on itself or on the agents ``ties()`` returns). Attributes a subclass sets on ``self``
    are its own memory: they persist from month to month (one agent per slot) and change nothing else.
    A subclass that defines ``__init__`` takes ``(model, slot)`` and calls ``super().__init__(model, slot)``.
    For randomness use Mesa's generators (``self.random``, ``self.model.rng``), never ``model.streams``:
    they are separate from the engine's streams, so a step leaves every other subscriber's draws unchanged.
    """

    _ids = _AgentCounters()  # see _AgentCounters: Mesa's own would keep the model alive

    def __init__(self, model: AgentHost, slot: int) -> None:
        super().__init__(model)
        self._slot = int(slot)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(slot={self._slot}, segment={self.segment!r}, stage={self.stage!r})"

    @property
    def slot(self) -> int:
        """The subscriber's slot: its index in the state arrays (never reused)."""
        return self._slot

    def _get(self, name: str):
        return self.model.world.state.__dict__["_" + name][self._slot]

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
        """Effective satisfaction as of the last close (this month's shocks are applied after the rules)."""
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
        """The subscribers this one is tied to, churned ones included, in slot order.

        Read from the tie arrays the contagion rule uses (the same ties as ``model.network``); only these
        subscribers' agents are made, not the whole network.
        """
        views = self.model.subscribers
        return [views[slot] for slot in views.tie_slots(self._slot).tolist()]

    def shock_satisfaction(self, delta: float) -> None:
        """Add ``delta`` to this month's satisfaction shock (it moves core satisfaction, like a problem does).

        The shock is applied at this close's attitude update if the subscriber is active (7.8); a churned
        subscriber's shock is dropped.
        """
        if not math.isfinite(delta):
            raise ValueError(f"shock_satisfaction: delta must be a finite number, got {delta}")
        self._array("shock")[self._slot] += delta

    def set_revenue_per_month(self, revenue: float) -> None:
        """Change what the subscriber pays each month from now on (a tariff change); this month's bill too
        when called from a rule's step, since rules run before the month is billed."""
        if not math.isfinite(revenue) or revenue < 0:
            raise ValueError(f"set_revenue_per_month: revenue must be a finite amount >= 0, got {revenue}")
        self._array("revenue")[self._slot] = revenue

    def _array(self, name: str) -> np.ndarray:
        """The array a method writes ``name`` to: while rules step, the writable view made before the lock."""
        writable = self.model.subscribers._writable
        return _store(self.model.world.state, name) if writable is None else writable[name]

    def step(self) -> None:
        """The plain subscriber has no behaviour of its own: the vectorised rules move it."""


def _names(key: str, value: object) -> tuple[str, ...]:
    """A selector value as a tuple of names: a single name or any iterable of names."""
    if isinstance(value, str):
        return (value,)
    try:
        names = tuple(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"AgentRule.{key}: a name or a tuple of names, got {value!r}") from None
    if not names or not all(isinstance(name, str) for name in names):
        raise TypeError(f"AgentRule.{key}: a name or a non-empty tuple of names, got {value!r}")
    return names


@dataclass(frozen=True)
class AgentRule:
    """Apply ``agent.step`` each month to the subscribers of ``segments`` (None: all) in ``stages``.

    ``agent`` is a subclass of ``Subscriber`` that defines ``step``; ``stages`` are among ``RULE_STAGES``
    (default: the active stages); ``segments`` are checked against the model's segments when the model is
    built. A single name may be given for ``segments`` or ``stages``.
    """

    agent: type[Subscriber]
    segments: tuple[str, ...] | None = None
    stages: tuple[str, ...] = tuple(STAGES[s] for s in ACTIVE_STAGES)

    def __post_init__(self) -> None:
        kind = self.agent
        if not (isinstance(kind, type) and issubclass(kind, Subscriber)):
            raise TypeError(f"AgentRule.agent: a subclass of caresim.Subscriber that defines step(), got {kind!r}")
        if kind.step is Subscriber.step:
            raise TypeError(f"AgentRule.agent: {kind.__name__} does not define step(); a rule needs one to call")
        stages = _names("stages", self.stages)
        unknown = [stage for stage in stages if stage not in RULE_STAGES]
        if unknown:
            raise ValueError(f"AgentRule.stages: unknown or not selectable {unknown}; allowed: {list(RULE_STAGES)}")
        object.__setattr__(self, "stages", stages)
        if self.segments is not None:
            object.__setattr__(self, "segments", _names("segments", self.segments))

    def check(self, segment_names: tuple[str, ...]) -> None:
        """Raise if the rule names a segment the model does not have."""
        if self.segments is None:
            return
        unknown = [name for name in self.segments if name not in segment_names]
        if unknown:
            raise ValueError(f"AgentRule.segments: unknown segments {unknown}; allowed: {list(segment_names)}")

    def selected(self, model: AgentHost) -> np.ndarray:
        """Slots this rule applies to now, in slot order."""
        world = model.world
        state, names = world.state, world.segments.names
        self.check(names)
        mask = np.isin(state.stage, [STAGES.index(stage) for stage in self.stages])
        if self.segments is not None:
            mask &= np.isin(state.segment, [names.index(name) for name in self.segments])
        return np.flatnonzero(mask)


def check_rules(rules: tuple[AgentRule, ...], segment_names: tuple[str, ...]) -> None:
    """Raise if a rule is not an ``AgentRule`` or names an unknown segment."""
    for k, rule in enumerate(rules):
        if not isinstance(rule, AgentRule):
            raise TypeError(f"agent_rules[{k}]: an AgentRule(agent=..., segments=..., stages=...), got {rule!r}")
        rule.check(segment_names)


class SubscriberViews(Mapping[int, Subscriber]):
    """Every subscriber who ever bought, as Mesa agents made on first access (slot -> agent).

    One agent per slot: the plain ``Subscriber`` when read, the rule's class when a rule steps it (an agent of
    another class is then remade, losing its attributes). Lost prospects are not subscribers (KeyError).
    """

    def __init__(self, model: AgentHost) -> None:
        self._model = model
        self._made: dict[int, Subscriber] = {}
        self._tie_index: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        #: while rules step: writable views of the fields Subscriber's methods write (the rest is locked)
        self._writable: dict[str, np.ndarray] | None = None

    def get_as(self, slot: int, kind: type[Subscriber]) -> Subscriber:
        """The agent of ``slot`` as an instance of ``kind`` (made, or remade as ``kind``, on first access)."""
        agent = self._made.get(slot)
        if agent is not None and type(agent) is kind:
            return agent
        fresh = kind(self._model, slot)
        self._made[slot] = fresh
        if agent is not None:
            agent.remove()
            if agent.pos is not None:  # it sits on the Mesa network: put the new agent in its place
                grid = self._model.network  # (rebuilt, with the new agent, if the ties changed since)
                if fresh.pos is None:
                    grid.remove_agent(agent)
                    grid.place_agent(fresh, slot)
        return fresh

    def tie_slots(self, slot: int) -> np.ndarray:
        """Slots tied to ``slot``, ascending (from the tie arrays, indexed once per change of the ties)."""
        ties = self._model.world.ties
        if self._tie_index is None or self._tie_index[0] is not ties.source:
            order = np.lexsort((ties.target, ties.source))
            source = ties.source[order]
            starts = np.searchsorted(source, np.arange(int(source.max(initial=-1)) + 2))
            self._tie_index = (ties.source, starts, ties.target[order])
        _, starts, targets = self._tie_index
        if slot + 1 >= len(starts):
            return targets[:0]
        return targets[starts[slot] : starts[slot + 1]]

    def _slots(self) -> np.ndarray:
        return np.flatnonzero(self._model.world.state.ever_active)

    def __getitem__(self, slot: int) -> Subscriber:
        try:
            slot = as_index(slot)
        except TypeError:
            raise KeyError(slot) from None
        agent = self._made.get(slot)
        if agent is not None:
            return agent
        state = self._model.world.state
        # one slot's stage, not state.ever_active (a mask over every slot): reading n agents stays O(n)
        if not (0 <= slot < state.n) or _store(state, "stage")[slot] in (PRESALE, LOST):
            raise KeyError(slot)
        return self.get_as(slot, Subscriber)

    def __iter__(self) -> Iterator[int]:
        return iter(self._slots().tolist())

    def __len__(self) -> int:
        return int(self._model.world.state.ever_active.sum())

    @property
    def n_made(self) -> int:
        """How many agents exist so far."""
        return len(self._made)


def apply_rules(model: AgentHost, rules: tuple[AgentRule, ...]) -> None:
    """Call each rule's ``step`` on its selected subscribers (rules in the order given), the state read-only."""
    if not rules:
        return
    views = model.subscribers
    made = views._made
    with _read_only(model.world.state) as writable:
        views._writable = writable
        try:
            for rule in rules:
                kind = rule.agent
                for slot in rule.selected(model).tolist():
                    agent = made.get(slot)
                    if agent is None or type(agent) is not kind:
                        agent = views.get_as(slot, kind)
                    try:
                        agent.step()
                    except ValueError as error:
                        if "read-only" not in str(error):
                            raise
                        raise RuntimeError(
                            f"{kind.__name__}.step (slot {slot}) wrote to a read-only array; the state arrays "
                            f"are read-only while rules step: {_WRITE_HINT}"
                        ) from error
        finally:
            views._writable = None
