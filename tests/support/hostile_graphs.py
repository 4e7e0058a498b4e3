"""Graphs that put hostile values where only a graph can: its state and its interrupts.

``HITL_GRAPHS=graphs,tests.support.graphs,tests.support.hostile_graphs``.
"""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.graph import START, StateGraph
from langgraph.types import interrupt

from hitl import register_graph


class DeepState(TypedDict, total=False):
    depth: int
    unstorable: bool
    pattern: str
    deep: Any
    answer: Any


def nested(depth: int) -> Any:
    """A value ``depth`` objects deep."""
    value: Any = "bottom"
    for _ in range(depth):
        value = {"down": value}
    return value


def ask_deep(state: DeepState) -> dict[str, Any]:
    # LangGraph's checkpoints hold 255 levels at most, the interrupt's wrapper included
    deep = nested(max(state.get("depth", 0) - 6, 0))
    schema = {
        "type": "object",
        "properties": {"code": {"type": "string", "pattern": state.get("pattern", "^.*$")}},
        "required": ["code"],
    }
    answer = interrupt({"question": "code?", "deep": deep}, response_schema=schema)
    return {"answer": answer}


def build_deep(state: DeepState) -> dict[str, Any]:
    if state.get("unstorable"):  # what jsonb cannot hold, though the checkpoint can
        return {"deep": {"nan": float("nan"), "inf": [float("inf")], "nul\x00": "a\x00\ud800"}}
    return {"deep": nested(state.get("depth", 0))}


@register_graph("deep", description="State and interrupt nested as deep as the input says.")
def deep() -> StateGraph[Any]:
    g = StateGraph(DeepState)
    g.add_node("build", build_deep)
    g.add_node("ask", ask_deep)
    g.add_edge(START, "build")
    g.add_edge("build", "ask")
    return g
