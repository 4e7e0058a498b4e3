"""Streamed runs at the Agent Server door (``/lg``) through LangGraph's own client, with the
runs executing in a ``hitl worker`` process and the client on the API process, so every chunk
travels runner -> Redis -> API -> SSE -> client:

* Latency: a node writes ``ticks`` custom events with ``get_stream_writer()``, each carrying
  ``time.time()`` when written, a short pause between them; the client, streaming
  ``stream_mode="custom"``, takes its own ``time.time()`` at each event (both processes read
  the one machine's clock). Per event, receive - sent.
* Throughput: the same graph with no ticks (three nodes to the end, no pause), run to the end
  with ``runs.stream(stream_mode="values")`` consumed to its ``end`` against ``runs.wait``, each
  run on a new thread, in interleaved rounds on the same service.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, TypedDict

from langgraph.config import get_stream_writer
from langgraph.graph import START, StateGraph
from langgraph_sdk import get_client

from benchmarks import _setup
from benchmarks.cycle import _drive
from benchmarks.inbox import Stats, _stats
from hitl.registry import register_graph

GRAPH = "stream_ticks"
# The service and the worker import this module to register the graph (HITL_GRAPHS).
MODULES = "graphs,benchmarks.streams"
TICKS_PER_RUN = 100
PAUSE = 0.01  # seconds between two ticks
SHORT: dict[str, Any] = {"ticks": 0}  # the throughput runs' input: three nodes, no events


class Ticks(TypedDict, total=False):
    ticks: int  # custom events the first node writes
    pause: float  # seconds between them
    steps: list[str]


async def _tick(state: Ticks) -> Ticks:
    write = get_stream_writer()
    for i in range(state.get("ticks", 0)):
        write({"i": i, "sent": time.time()})
        await asyncio.sleep(state.get("pause", 0.0))
    return {"steps": ["tick"]}


def _check(state: Ticks) -> Ticks:
    return {"steps": [*state.get("steps", []), "check"]}


def _done(state: Ticks) -> Ticks:
    return {"steps": [*state.get("steps", []), "done"]}


@register_graph(GRAPH)
def stream_ticks() -> StateGraph[Any]:
    """Three nodes to the end; the first writes ``ticks`` custom events."""
    builder = StateGraph(Ticks)
    builder.add_node("tick", _tick)
    builder.add_node("check", _check)
    builder.add_node("done", _done)
    builder.add_edge(START, "tick")
    builder.add_edge("tick", "check")
    builder.add_edge("check", "done")
    return builder


async def latencies(base_url: str, runs: int) -> Stats:
    """p50/p95 (ms) from a node's write to the client's receipt, over ``runs`` runs of
    `TICKS_PER_RUN` events (the first run's as warm-up)."""
    client = get_client(url=base_url + "/lg", api_key=_setup.KEYS[base_url], timeout=120)
    delays: list[float] = []
    try:
        for r in range(runs + 1):
            seen = 0
            async for part in client.runs.stream(
                str(uuid.uuid4()),
                GRAPH,
                input={"ticks": TICKS_PER_RUN, "pause": PAUSE},
                stream_mode="custom",
                if_not_exists="create",
            ):
                if part.event == "custom":
                    received = time.time()
                    seen += 1
                    if r > 0:
                        delays.append((received - part.data["sent"]) * 1000)
            assert seen == TICKS_PER_RUN, seen
    finally:
        await client.aclose()
    return _stats(delays)


async def streamed(base_url: str, n: int, concurrency: int) -> float:
    """Runs per second, each streamed (``values``) to its end."""
    client = get_client(url=base_url + "/lg", api_key=_setup.KEYS[base_url], timeout=120)

    async def one(_i: int) -> None:
        events = [
            part.event
            async for part in client.runs.stream(
                str(uuid.uuid4()), GRAPH, input=SHORT, stream_mode="values", if_not_exists="create"
            )
        ]
        assert events[-1] == "end" and events.count("values") == 4, events  # input + 3 nodes

    try:
        return await _drive(n, concurrency, one)
    finally:
        await client.aclose()


async def waited(base_url: str, n: int, concurrency: int) -> float:
    """Runs per second, each waited for (``runs.wait``)."""
    client = get_client(url=base_url + "/lg", api_key=_setup.KEYS[base_url], timeout=120)

    async def one(_i: int) -> None:
        done: Any = await client.runs.wait(
            str(uuid.uuid4()), GRAPH, input=SHORT, if_not_exists="create"
        )
        assert done["steps"] == ["tick", "check", "done"], done

    try:
        return await _drive(n, concurrency, one)
    finally:
        await client.aclose()
