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
from pydantic import TypeAdapter

from hitl import errors

Durability = Literal["sync", "async", "exit"]
BuilderFactory = Callable[[], StateGraph[Any]]
F = TypeVar("F", bound=BuilderFactory)


@dataclass(frozen=True)
class GraphSpec:
    """A registered graph: its name, how to build it and how the service runs it.

    ``durability`` is LangGraph's checkpoint durability for this graph's runs: the checkpoint
    at an interrupt and at the end is always written before a run is recorded, whatever the mode.
    """

    name: str
    factory: BuilderFactory
    durability: Durability = "async"
    description: str = ""
    _builder: list[StateGraph[Any]] = field(default_factory=list, repr=False, compare=False)

    @property
    def builder(self) -> StateGraph[Any]:
        if not self._builder:
            self._builder.append(self.factory())
        return self._builder[0]

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
    ) -> GraphSpec:
        """Register (or replace) a graph under ``name``."""
        if not name or not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"graph name {name!r}: use letters, digits, '-' and '_'")
        factory: BuilderFactory = (
            (lambda b=builder: b) if isinstance(builder, StateGraph) else builder  # type: ignore[misc]
        )
        spec = GraphSpec(name, factory, durability, description)
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
    name: str, *, durability: Durability = "async", description: str = ""
) -> Callable[[F], F]:
    """Decorator: register a function returning a `StateGraph` builder in the default registry."""

    def decorate(factory: F) -> F:
        default_registry.register(
            name, factory, durability=durability, description=description or (factory.__doc__ or "")
        )
        return factory

    return decorate


def load_modules(modules: Iterable[str]) -> None:
    """Import the modules that register graphs (``HITL_GRAPHS``)."""
    for module in modules:
        importlib.import_module(module)
