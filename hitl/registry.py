"""Graph registry: names -> StateGraph builders, with how the service runs them.

Graph authors register a builder once, usually with the decorator::

    from hitl import register_graph

    @register_graph("code_review")
    def code_review() -> StateGraph: ...

`hitl serve` imports the modules named in ``HITL_GRAPHS`` (``graphs`` by default), which
fills the default registry; the service compiles every builder with the Postgres checkpointer.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from langgraph.graph import StateGraph
from pydantic import TypeAdapter, ValidationError

from hitl import errors, policies
from hitl.assignment import Routing
from hitl.deadlines import Defaults

Durability = Literal["sync", "async", "exit"]
BuilderFactory = Callable[[], StateGraph[Any]]
F = TypeVar("F", bound=BuilderFactory)


@dataclass(frozen=True)
class GraphSpec:
    """A registered graph: its name, how to build it and how the service runs it.

    ``durability`` is LangGraph's checkpoint durability for this graph's runs: the checkpoint
    at an interrupt and at the end is always written before a run is recorded, whatever the mode.
    The other fields are the defaults of the graph's requests (see `hitl.deadlines`): who they
    are assigned to, their deadline, what happens at it and the reminders before it; unset,
    the settings give them.
    """

    name: str
    factory: BuilderFactory
    durability: Durability = "async"
    description: str = ""
    assignees: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    timeout_seconds: float | None = None
    on_timeout: policies.DefaultAnswer | policies.Escalate | policies.Expire | None = None
    reminders: tuple[float, ...] | None = None
    _builder: list[StateGraph[Any]] = field(default_factory=list, repr=False, compare=False)

    @property
    def builder(self) -> StateGraph[Any]:
        if not self._builder:
            self._builder.append(self.factory())
        return self._builder[0]

    def defaults(self, settings_defaults: Defaults) -> Defaults:
        """The terms this graph's requests get when their interrupt value names none."""
        return settings_defaults.over(
            assignees=self.assignees,
            groups=self.groups,
            timeout_seconds=self.timeout_seconds,
            on_timeout=self.on_timeout,
            reminders=self.reminders,
        )

    @property
    def input_adapter(self) -> TypeAdapter[Any] | None:
        """A validator for the graph's input schema, or None when it cannot be built."""
        schema = self.builder.input_schema
        try:
            return TypeAdapter(schema)
        except Exception:  # exotic state types (e.g. langchain messages): validated by the graph
            return None


class GraphRegistry:
    """Maps graph names to `GraphSpec`s."""

    def __init__(self) -> None:
        self._specs: dict[str, GraphSpec] = {}

    def register(
        self,
        name: str,
        builder: StateGraph[Any] | BuilderFactory,
        *,
        durability: Durability = "async",
        description: str = "",
        assignees: Iterable[str] = (),
        groups: Iterable[str] = (),
        timeout_seconds: float | None = None,
        on_timeout: Any = None,
        reminders: Iterable[float] | None = None,
    ) -> GraphSpec:
        """Register (or replace) a graph under ``name``.

        ``assignees`` / ``groups``, ``timeout_seconds``, ``on_timeout`` and ``reminders`` are
        the defaults of its requests (see `hitl.deadlines`); a bad one raises `ValueError`.
        """
        if not name or not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"graph name {name!r}: use letters, digits, '-' and '_'")
        factory: BuilderFactory = (
            (lambda b=builder: b) if isinstance(builder, StateGraph) else builder  # type: ignore[misc]
        )
        routing = _routing(name, list(assignees), list(groups))
        if timeout_seconds is not None and not 0 < timeout_seconds <= policies.MAX_TIMEOUT_SECONDS:
            raise ValueError(f"graph {name!r}: timeout_seconds must be > 0 and at most a year")
        try:
            policy = policies.check_policy(on_timeout) if on_timeout is not None else None
            fractions = policies.check_reminders(list(reminders)) if reminders is not None else None
        except ValueError as exc:
            raise ValueError(f"graph {name!r}: {exc}") from None
        spec = GraphSpec(
            name,
            factory,
            durability,
            description,
            assignees=tuple(routing.assignees),
            groups=tuple(routing.groups),
            timeout_seconds=timeout_seconds,
            on_timeout=policy,
            reminders=tuple(fractions) if fractions is not None else None,
        )
        self._specs[name] = spec
        return spec

    def get(self, name: str) -> GraphSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise errors.GraphNotFound(name) from None

    def names(self) -> list[str]:
        return sorted(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __len__(self) -> int:
        return len(self._specs)


default_registry = GraphRegistry()


def register_graph(
    name: str,
    *,
    durability: Durability = "async",
    description: str = "",
    assignees: Iterable[str] = (),
    groups: Iterable[str] = (),
    timeout_seconds: float | None = None,
    on_timeout: Any = None,
    reminders: Iterable[float] | None = None,
) -> Callable[[F], F]:
    """Decorator: register a function returning a `StateGraph` builder in the default registry.

    The keyword arguments after ``description`` are the defaults of the graph's requests: who
    they are assigned to, their deadline in seconds, what happens at it (``on_timeout``, e.g.
    ``{"action": "escalate", "to": {"groups": ["leads"]}, "extend_seconds": 3600}``) and
    reminders as fractions of the time to it (see `hitl.deadlines`).
    """

    def decorate(factory: F) -> F:
        default_registry.register(
            name,
            factory,
            durability=durability,
            description=description or (factory.__doc__ or ""),
            assignees=assignees,
            groups=groups,
            timeout_seconds=timeout_seconds,
            on_timeout=on_timeout,
            reminders=reminders,
        )
        return factory

    return decorate


def _routing(graph: str, assignees: list[str], groups: list[str]) -> Routing:
    try:
        return Routing(assignees=assignees, groups=groups)
    except ValidationError as exc:
        raise ValueError(f"graph {graph!r}: {policies.first_error(exc)}") from None


def load_modules(modules: Iterable[str]) -> None:
    """Import the modules that register graphs (``HITL_GRAPHS``)."""
    for module in modules:
        importlib.import_module(module)
