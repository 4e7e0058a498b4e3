"""Graph registry: names -> graphs, with how the service runs them.

Graph authors register a builder once, usually with the decorator::

    from hitl import register_graph

    @register_graph("code_review")
    def code_review() -> StateGraph: ...

or declare their graphs in a ``langgraph.json`` (see `hitl.langgraph_json`). A graph is one of
three things, as in LangGraph's own server:

- a ``StateGraph`` builder: the service compiles it with its Postgres checkpointer;
- a graph its author compiled (``builder.compile(interrupt_before=..., name=...)``): served as
  compiled, with only the checkpointer swapped for the service's (``Pregel.copy``), so every
  compile option stays;
- a factory taking the run's config: called for every run (see `ServedGraphs.for_run`).

`hitl serve` imports the modules and files named in ``HITL_GRAPHS`` (``graphs`` by default),
which fills the default registry; `ServedGraphs` holds the graphs ready to run.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel
from pydantic import TypeAdapter, ValidationError

from hitl import errors, policies, quorum
from hitl import priority as priorities
from hitl.assignment import Routing
from hitl.deadlines import Defaults

Durability = Literal["sync", "async", "exit"]
BuilderFactory = Callable[[], StateGraph[Any]]
# What a registration may hold: a builder, a compiled graph, or a function returning either
# (called once, with no argument, for `register_graph`; see `RunFactory` for per-run ones).
GraphValue = StateGraph[Any] | Pregel[Any, Any]
# A factory called for every run: with the run's config, or with nothing. It returns a builder
# or a compiled graph, a coroutine of one, or a (async) context manager yielding one.
RunFactory = Callable[..., Any]
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
    factory: Callable[[], GraphValue]
    durability: Durability = "async"
    description: str = ""
    assignees: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    timeout_seconds: float | None = None
    on_timeout: policies.DefaultAnswer | policies.Escalate | policies.Expire | None = None
    reminders: tuple[float, ...] | None = None
    # Four-eyes for its requests (`hitl.four_eyes`); None: the settings decide.
    forbid_self_approval: bool | None = None
    # Its requests' priority rank (`hitl.priority`); None: the settings decide.
    priority: int | None = None
    # Its requests' quorum terms (`hitl.quorum`, as JSON); None: one answer decides.
    approval: dict[str, Any] | None = None
    # Set for a per-run factory (``factory`` is then unused): called for every run.
    run_factory: RunFactory | None = None
    run_factory_takes_config: bool = True
    # Where the graph was declared (``langgraph.json: ./agent.py:graph``); "" for code.
    source: str = ""
    _graph: list[GraphValue] = field(default_factory=list, repr=False, compare=False)

    @property
    def graph(self) -> GraphValue:
        """The builder or compiled graph (built once); a per-run factory has none."""
        if self.run_factory is not None:
            raise TypeError(f"graph {self.name!r} is built by a factory for every run")
        if not self._graph:
            self._graph.append(self.factory())
        return self._graph[0]

    @property
    def builder(self) -> StateGraph[Any]:
        """The ``StateGraph`` builder (a compiled state graph's own)."""
        graph = self.graph
        if isinstance(graph, StateGraph):
            return graph
        builder = getattr(graph, "builder", None)
        if not isinstance(builder, StateGraph):
            raise TypeError(f"graph {self.name!r} was not compiled from a StateGraph")
        return builder

    def compile(self, checkpointer: BaseCheckpointSaver[Any]) -> Pregel[Any, Any]:
        """The graph, ready to run with ``checkpointer``: a builder compiled with it, a compiled
        graph copied with it (its compile options stay)."""
        return with_checkpointer(self.graph, checkpointer, self.name)

    def defaults(self, settings_defaults: Defaults) -> Defaults:
        """The terms this graph's requests get when their interrupt value names none."""
        return settings_defaults.over(
            assignees=self.assignees,
            groups=self.groups,
            timeout_seconds=self.timeout_seconds,
            on_timeout=self.on_timeout,
            reminders=self.reminders,
            forbid_self_approval=self.forbid_self_approval,
            priority=self.priority,
            approval=self.approval,
        )

    @property
    def input_adapter(self) -> TypeAdapter[Any] | None:
        """A validator for the graph's input schema, or None when it cannot be built (a
        factory's graph is not known before its run; it validates its input itself)."""
        try:
            schema = self.builder.input_schema
        except TypeError:
            return None
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
        builder: GraphValue | Callable[[], GraphValue] | None = None,
        *,
        run_factory: RunFactory | None = None,
        source: str = "",
        durability: Durability = "async",
        description: str = "",
        assignees: Iterable[str] = (),
        groups: Iterable[str] = (),
        timeout_seconds: float | None = None,
        on_timeout: Any = None,
        reminders: Iterable[float] | None = None,
        forbid_self_approval: bool | None = None,
        priority: str | None = None,
        approval: Any = None,
    ) -> GraphSpec:
        """Register (or replace) a graph under ``name``.

        ``assignees`` / ``groups``, ``timeout_seconds``, ``on_timeout`` and ``reminders`` are
        the defaults of its requests (see `hitl.deadlines`); a bad one raises `ValueError`.
        ``forbid_self_approval``: whether who started a thread may answer its requests
        (`hitl.four_eyes`; None: ``HITL_FORBID_SELF_APPROVAL`` decides).
        ``builder`` is a builder, a compiled graph or a function returning one (called once);
        or give a ``run_factory`` instead, called for every run.
        """
        if (builder is None) == (run_factory is None):
            raise ValueError(f"graph {name!r}: give a builder or a run_factory (one of them)")
        if not name or not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"graph name {name!r}: use letters, digits, '-' and '_'")
        factory: Callable[[], GraphValue] = (
            _made_per_run
            if builder is None
            else (lambda b=builder: b)  # type: ignore[misc]
            if isinstance(builder, StateGraph | Pregel)
            else builder
        )
        takes_config = True
        if run_factory is not None:
            takes_config = factory_takes_config(run_factory)
        routing = _routing(name, list(assignees), list(groups))
        if timeout_seconds is not None and not 0 < timeout_seconds <= policies.MAX_TIMEOUT_SECONDS:
            raise ValueError(f"graph {name!r}: timeout_seconds must be > 0 and at most a year")
        try:
            policy = policies.check_policy(on_timeout) if on_timeout is not None else None
            fractions = policies.check_reminders(list(reminders)) if reminders is not None else None
        except ValueError as exc:
            raise ValueError(f"graph {name!r}: {exc}") from None
        try:
            terms = quorum.check(approval).stored() if approval is not None else None
        except ValueError as exc:
            raise ValueError(f"graph {name!r}: {exc}") from None
        if priority is not None and priority not in priorities.LEVELS:
            raise ValueError(f"graph {name!r}: priority must be one of {priorities.LEVELS}")
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
            forbid_self_approval=forbid_self_approval,
            priority=priorities.rank(priority) if priority is not None else None,
            approval=terms,
            run_factory=run_factory,
            run_factory_takes_config=takes_config,
            source=source,
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
    forbid_self_approval: bool | None = None,
    priority: str | None = None,
    approval: Any = None,
) -> Callable[[F], F]:
    """Decorator: register a function returning a `StateGraph` builder in the default registry.

    The keyword arguments after ``description`` are the defaults of the graph's requests: who
    they are assigned to, their deadline in seconds, what happens at it (``on_timeout``, e.g.
    ``{"action": "escalate", "to": {"groups": ["leads"]}, "extend_seconds": 3600}``) and
    reminders as fractions of the time to it (see `hitl.deadlines`), and whether who started a
    thread may answer its requests (``forbid_self_approval``, see `hitl.four_eyes`).
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
            forbid_self_approval=forbid_self_approval,
            priority=priority,
            approval=approval,
        )
        return factory

    return decorate


def _made_per_run() -> GraphValue:
    raise TypeError("this graph is made by its factory for each run")


def _routing(graph: str, assignees: list[str], groups: list[str]) -> Routing:
    try:
        return Routing(assignees=assignees, groups=groups)
    except ValidationError as exc:
        raise ValueError(f"graph {graph!r}: {policies.first_error(exc)}") from None


def load_modules(modules: Iterable[str]) -> None:
    """Import the modules that register graphs (``HITL_GRAPHS``)."""
    for module in modules:
        importlib.import_module(module)


def factory_takes_config(factory: RunFactory) -> bool:
    """Whether a per-run factory takes the run's config (one argument) or nothing; any other
    signature raises `ValueError`, as LangGraph's server refuses it."""
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):  # no signature to read (a builtin): give it the config
        return True
    required = [
        p
        for p in params
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if len(required) > 1 or any(p.kind is p.KEYWORD_ONLY for p in required):
        raise ValueError(
            "a graph factory takes one argument (the run's config) or none, not "
            f"({', '.join(p.name for p in required)})"
        )
    return any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params
    )


def with_checkpointer(
    graph: GraphValue, checkpointer: BaseCheckpointSaver[Any], name: str
) -> Pregel[Any, Any]:
    """``graph`` ready to run with ``checkpointer``. A builder is compiled with it; a compiled
    graph is copied with it, as LangGraph's server does, so that its compile options
    (``interrupt_before``, ``name``, stream transformers, its store...) stay as its author set
    them. An unnamed graph takes its registration's name."""
    if isinstance(graph, StateGraph):
        return graph.compile(checkpointer=checkpointer, name=name)
    if not isinstance(graph, Pregel):
        raise TypeError(f"graph {name!r}: {type(graph).__name__} is not a graph")
    update: dict[str, Any] = {"checkpointer": checkpointer}
    if graph.name == "LangGraph":  # the default
        update["name"] = name
    return graph.copy(update=update)


class ServedGraphs(Mapping[str, Pregel[Any, Any]]):
    """The registry's graphs ready to run with the service's checkpointer.

    Builders and compiled graphs are made ready once, here, and are the mapping's values;
    factories are called for every run by `for_run` (their graph may depend on the run's
    config, so nothing of it is kept between runs).
    """

    def __init__(self, registry: GraphRegistry, checkpointer: BaseCheckpointSaver[Any]) -> None:
        self.registry = registry
        self.checkpointer = checkpointer
        self._ready = {
            name: registry.get(name).compile(checkpointer)
            for name in registry.names()
            if registry.get(name).run_factory is None
        }

    def __getitem__(self, name: str) -> Pregel[Any, Any]:
        return self._ready[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._ready)

    def __len__(self) -> int:
        return len(self._ready)

    @contextlib.asynccontextmanager
    async def for_run(
        self, name: str, config: RunnableConfig
    ) -> AsyncIterator[Pregel[Any, Any] | None]:
        """The graph to run ``name`` with ``config`` (None when it is not registered here). A
        factory is called with a copy of the config and its graph is held open (a context
        manager's) for the block."""
        if name in self._ready:
            yield self._ready[name]
            return
        if name not in self.registry:
            yield None
            return
        spec = self.registry.get(name)
        assert spec.run_factory is not None
        made = (
            spec.run_factory(_copy_config(config))
            if spec.run_factory_takes_config
            else spec.run_factory()
        )
        if isinstance(made, contextlib.AbstractAsyncContextManager):
            async with made as graph:
                yield with_checkpointer(graph, self.checkpointer, name)
        elif isinstance(made, contextlib.AbstractContextManager):
            with made as graph:
                yield with_checkpointer(graph, self.checkpointer, name)
        else:
            if inspect.isawaitable(made):
                made = await made
            yield with_checkpointer(made, self.checkpointer, name)


def _copy_config(config: RunnableConfig) -> RunnableConfig:
    """A config a factory may change without changing the run's."""
    copied: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in config.items()}
    return copied  # type: ignore[return-value]


# The namespace LangGraph's Agent Server derives an assistant's id from its graph's name with, so
# a graph is the same assistant, with the same id, here and there.
ASSISTANTS_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")


def assistant_id(graph: str) -> str:
    """The id of the assistant a registered graph is (hitl/agent_server): stable, from its name."""
    return str(uuid.uuid5(ASSISTANTS_NAMESPACE, graph))
