"""Long-lived threads: an answer costs the same at the thousandth turn as at the first.

Eight threads of a graph that asks a person again and again (`ask_forever`: one node that
calls ``interrupt()`` and loops back to itself, its state of constant size), each answered
``answers`` times in a row, the eight in parallel:

* raw LangGraph: ``AsyncPostgresSaver`` on a pool, ``ainvoke(Command(resume=...))`` per answer;
* the service: a ``hitl serve`` process, ``POST /threads/{id}/resume?wait=`` per answer (the
  answer and the run it causes, until the thread asks again).

Each answer's latency is kept by its turn; the figures are the median and p95 of turns 1-100
and of the last 100, over the eight threads, and their ratio late / early. A cost that grows
with the thread's history (requests, runs, checkpoints) shows as a ratio above 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import threading
import time
from collections.abc import Iterator
from typing import Any, TypedDict

import httpx
import psycopg
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.graph import START, StateGraph
from langgraph.types import Command, interrupt

from benchmarks import _setup
from hitl import db
from hitl.registry import default_registry, register_graph

GRAPH = "ask_forever"
# The service imports this module to register the graph (HITL_GRAPHS).
MODULES = "graphs,benchmarks.long_threads"
THREADS = 8
WINDOW = 100  # turns per figure: the first WINDOW and the last WINDOW


class Asked(TypedDict, total=False):
    last: Any
    n: int


def _ask(state: Asked) -> Asked:
    answer = interrupt({"question": "again?", "n": state.get("n", 0)})
    return {"last": answer, "n": state.get("n", 0) + 1}


@register_graph(GRAPH)
def ask_forever() -> StateGraph[Any]:
    """Ask, take the answer, ask again: a thread that never ends."""
    builder = StateGraph(Asked)
    builder.add_node("ask", _ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", "ask")
    return builder


def _figures(latencies: list[list[float]], answers: int) -> dict[str, float]:
    """Median and p95 (ms) of the first and last `WINDOW` turns over all threads."""

    def of(turns: slice) -> tuple[float, float]:
        found = sorted(ms for thread in latencies for ms in thread[turns])
        return statistics.median(found), found[int(len(found) * 0.95) - 1]

    window = min(WINDOW, answers // 2)
    early, late = of(slice(0, window)), of(slice(answers - window, answers))
    return {"p50_early": early[0], "p95_early": early[1], "p50_late": late[0], "p95_late": late[1]}


async def raw_langgraph(
    database_url: str, answers: int, threads: int = THREADS
) -> list[list[float]]:
    """Per thread, the latency (ms) of each answer, with LangGraph's stock saver."""
    spec = default_registry.get(GRAPH)
    async with db.create_pool(database_url, min_size=threads, max_size=threads + 2) as pool:
        saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        await saver.setup()
        graph = spec.builder.compile(checkpointer=saver)

        async def one(i: int) -> list[float]:
            config: dict[str, Any] = {"configurable": {"thread_id": f"raw-long-{i}-{time.time()}"}}
            result = await graph.ainvoke({"n": 0}, config, durability=spec.durability)
            took = []
            for turn in range(answers):
                [asked] = result["__interrupt__"]
                started = time.perf_counter()
                result = await graph.ainvoke(
                    Command(resume={asked.id: f"answer {turn}"}), config, durability=spec.durability
                )
                took.append((time.perf_counter() - started) * 1000)
            return took

        return list(await asyncio.gather(*(one(i) for i in range(threads))))


async def through_service(base_url: str, answers: int, threads: int = THREADS) -> list[list[float]]:
    """Per thread, the latency (ms) of each ``POST /threads/{id}/resume?wait=``."""
    limits = httpx.Limits(max_connections=threads * 2)
    async with httpx.AsyncClient(
        base_url=base_url, timeout=120, limits=limits, headers=_setup.auth_headers(base_url)
    ) as client:

        async def one(_i: int) -> list[float]:
            r = await client.post(
                "/api/v1/threads", params={"wait": 60}, json={"graph": GRAPH, "input": {"n": 0}}
            )
            body = r.raise_for_status().json()
            thread_id = body["thread_id"]
            took = []
            for turn in range(answers):
                [asked] = body["interrupts"]
                started = time.perf_counter()
                r = await client.post(
                    f"/api/v1/threads/{thread_id}/resume",
                    params={"wait": 60},
                    json={"resume": {asked["interrupt_id"]: f"answer {turn}"}},
                )
                body = r.raise_for_status().json()
                took.append((time.perf_counter() - started) * 1000)
                assert body["status"] == "interrupted", body
            assert body["values"]["n"] == answers, body["values"]
            return took

        return list(await asyncio.gather(*(one(i) for i in range(threads))))


@contextlib.contextmanager
def _maintained(database_url: str, every: float = 20.0) -> Iterator[bool]:
    """Where the server runs without autovacuum, stand in for it: ``VACUUM (ANALYZE)`` the
    database every ``every`` seconds. Without it the dead versions of rows updated on every
    answer (a thread's row, its runs in the queue index) pile up, and tables keep the planner's
    default statistics; a production server has autovacuum on. Yields whether it stands in."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        on = conn.execute("SHOW autovacuum").fetchone()
    if on is not None and on[0] == "on":
        yield False
        return
    stop = threading.Event()

    def vacuum() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            while not stop.wait(every):
                conn.execute("VACUUM (ANALYZE)")

    worker = threading.Thread(target=vacuum, name="bench-vacuum", daemon=True)
    worker.start()
    try:
        yield True
    finally:
        stop.set()
        worker.join()


def main(answers: int = 1000) -> None:
    with (
        _setup.engines() as (base_url, redis_url),
        _setup.scratch_database(base_url) as url,
        _maintained(url) as vacuumed,
    ):
        raw = _figures(asyncio.run(raw_langgraph(url, answers)), answers)
        with _setup.service(url, redis_url, HITL_GRAPHS=MODULES) as server:
            service = _figures(asyncio.run(through_service(server.url, answers)), answers)
    window = min(WINDOW, answers // 2)
    early, late = f"1-{window}", f"{answers - window + 1}-{answers}"
    print(
        f"\nlong-lived threads: {THREADS} threads answered {answers} times each, in parallel, ms:"
    )
    for name, f in (("raw LangGraph, stock saver", raw), ("service, resume?wait=", service)):
        print(
            f"  {name:<28} answers {early:>9}: p50 {f['p50_early']:6.1f} p95 {f['p95_early']:6.1f}"
            f"   answers {late:>9}: p50 {f['p50_late']:6.1f} p95 {f['p95_late']:6.1f}"
            f"   late/early p50 {f['p50_late'] / f['p50_early']:4.2f}"
            f" p95 {f['p95_late'] / f['p95_early']:4.2f}"
        )
    if vacuumed:
        print("  (autovacuum is off on this server: VACUUM (ANALYZE) every 20 s stood in for it)")
    print("  target: the service's late/early within 1.2")
