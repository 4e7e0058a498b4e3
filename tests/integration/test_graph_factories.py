"""A factory graph (hitl/registry.py `ServedGraphs.for_run`) run by the runner: called with each
run's config, and a factory that fails fails its thread with the reason, like a graph that
raises, rather than leaving the run to be retried as if the infrastructure had failed. And a
compiled graph's static breakpoint, kept with its compile options, is not taken for an end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict

from hitl.api import create_app
from hitl.config import Settings
from hitl.registry import GraphRegistry
from tests.support import auth
from tests.support.api import pending, respond, settle, start


class State(TypedDict, total=False):
    question: str
    answer: str
    made_for: str


made_for: list[str] = []


def per_thread(config: RunnableConfig) -> Any:
    thread_id = config["configurable"]["thread_id"]
    made_for.append(thread_id)

    def ask(state: State) -> State:
        return {"answer": interrupt({"question": state["question"]}), "made_for": thread_id}

    builder: StateGraph[Any] = StateGraph(State)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    return builder


def broken(config: RunnableConfig) -> Any:
    raise RuntimeError("the model's API key is not set")


@pytest.fixture
async def factories(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    registry = GraphRegistry()
    registry.register("per_thread", run_factory=per_thread)
    registry.register("broken", run_factory=broken)
    registry.register(
        "breakpoint",
        per_thread({"configurable": {"thread_id": "-"}}).compile(interrupt_before=["ask"]),
    )
    app = create_app(settings, registry)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hitl", headers=auth.BEARER
        ) as c,
    ):
        yield c


async def test_a_factory_makes_each_run_s_graph_from_its_config(
    factories: httpx.AsyncClient,
) -> None:
    made_for.clear()
    thread_id = await start(factories, "per_thread", {"question": "Which region?"})
    assert (await settle(factories, thread_id))["status"] == "interrupted"
    [request] = await pending(factories, thread_id)
    assert request["value"] == {"question": "Which region?"}
    assert (await respond(factories, request["id"], "eu-west")).status_code == 200
    done = await settle(factories, thread_id)
    assert done["status"] == "completed", done
    assert done["values"]["answer"] == "eu-west" and done["values"]["made_for"] == thread_id
    assert made_for == [thread_id, thread_id]  # the start's run, then the answer's


async def test_a_failing_factory_fails_the_thread_with_its_reason(
    factories: httpx.AsyncClient,
) -> None:
    thread_id = await start(factories, "broken", {"question": "?"})
    thread = await settle(factories, thread_id)
    assert thread["status"] == "failed"
    assert thread["error"]["type"] == "GraphFactoryFailed"
    assert thread["error"]["message"] == (
        "the factory of graph 'broken' failed: RuntimeError: the model's API key is not set"
    )


async def test_a_static_breakpoint_is_not_taken_for_the_end(factories: httpx.AsyncClient) -> None:
    thread_id = await start(factories, "breakpoint", {"question": "?"})
    thread = await settle(factories, thread_id)
    assert thread["status"] == "failed"  # nobody can be asked at a breakpoint: say so
    assert thread["error"] == {
        "type": "GraphStopped",
        "message": "graph stopped before ['ask'] without an interrupt",
    }
