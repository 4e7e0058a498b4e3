"""The effect key of a step, on LangGraph's in-memory checkpointer: the same for every run of a
step (a crash's re-run, a resume re-running the node), different for anything else. And what
the helpers do outside the service (nothing recorded)."""

from __future__ import annotations

import operator
import uuid
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.types import Command, interrupt

import hitl
from hitl.effects import NotInAStep


class State(TypedDict, total=False):
    crash: bool
    log: Annotated[list[Any], operator.add]


class Seen:
    """The keys each node saw, in order, and whether the next run of ``act`` crashes."""

    def __init__(self) -> None:
        self.keys: list[tuple[str, uuid.UUID]] = []
        self.crash_once = False

    def builder(self) -> StateGraph[Any]:
        async def ask(state: State) -> dict[str, Any]:
            self.keys.append(("ask", hitl.effect_key()))
            answer = interrupt("approve?")
            self.keys.append(("ask", hitl.effect_key()))
            return {"log": [answer]}

        async def act(state: State) -> dict[str, Any]:
            self.keys.append(("act", hitl.effect_key()))
            if self.crash_once:
                self.crash_once = False
                raise RuntimeError("the worker died")
            return {"log": ["acted"]}

        g = StateGraph(State)
        g.add_node("ask", ask)
        g.add_node("act", act)
        g.add_edge(START, "ask")
        g.add_edge("ask", "act")
        return g


@pytest.fixture
def seen() -> Seen:
    return Seen()


async def test_a_step_run_again_has_the_same_key_and_the_next_turn_another(seen: Seen) -> None:
    graph = seen.builder().compile(checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": str(uuid.uuid4())}}

    await graph.ainvoke({}, config, durability="sync")
    seen.crash_once = True
    with pytest.raises(RuntimeError):
        await graph.ainvoke(Command(resume="yes"), config, durability="sync")
    await graph.ainvoke(None, config, durability="sync")  # the step runs again, from its checkpoint
    first_turn = list(seen.keys)
    # ask before the question, ask resumed, act (crashed), act again
    assert [node for node, _ in first_turn] == ["ask", "ask", "ask", "act", "act"]
    ask_keys = {key for node, key in first_turn if node == "ask"}
    act_keys = {key for node, key in first_turn if node == "act"}
    assert len(ask_keys) == 1  # resuming re-runs the node: the same step, the same key
    assert len(act_keys) == 1  # the crash's re-run: the same key
    assert ask_keys != act_keys

    seen.keys.clear()
    await graph.ainvoke({}, config, durability="sync")  # the thread's next turn
    await graph.ainvoke(Command(resume="yes"), config, durability="sync")
    second_turn = {key for _, key in seen.keys}
    assert second_turn.isdisjoint(ask_keys | act_keys)
    assert len(second_turn) == 2


async def test_keys_differ_by_thread_and_by_effect_name() -> None:
    keys: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]] = []

    async def node(state: State) -> dict[str, Any]:
        keys.append((hitl.effect_key(), hitl.effect_key("deploy"), hitl.effect_key("notify")))
        return {}

    g = StateGraph(State)
    g.add_node("node", node)
    g.add_edge(START, "node")
    graph = g.compile(checkpointer=InMemorySaver())
    for thread in ("a", "b"):
        await graph.ainvoke({}, {"configurable": {"thread_id": thread}})
    assert len({key for row in keys for key in row}) == 6


async def test_outside_the_service_once_calls_every_time_and_returns_json() -> None:
    calls: list[str] = []

    def sync_effect() -> tuple[str, int]:
        calls.append("sync")
        return ("deployed", 1)

    async def async_effect() -> dict[str, Any]:
        calls.append("async")
        return {"id": 7}

    results: list[Any] = []

    async def node(state: State) -> dict[str, Any]:
        results.append(await hitl.once("sync", sync_effect))
        results.append(await hitl.once("async", async_effect))
        results.append(await hitl.once("lambda", lambda: async_effect()))
        return {}

    g = StateGraph(State)
    g.add_node("node", node)
    g.add_edge(START, "node")
    graph = g.compile(checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": "t"}}
    await graph.ainvoke({}, config)
    await graph.ainvoke({}, config)
    assert calls == ["sync", "async", "async"] * 2  # nothing recorded: at least once
    assert results == [["deployed", 1], {"id": 7}, {"id": 7}] * 2  # as JSON gives it back


async def test_outside_a_node_the_helpers_say_where_they_belong() -> None:
    with pytest.raises(NotInAStep, match="inside a graph's node"):
        hitl.effect_key()
    with pytest.raises(NotInAStep):
        await hitl.once("x", lambda: 1)
