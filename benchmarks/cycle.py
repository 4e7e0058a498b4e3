"""Full human-in-the-loop cycles per second: the service's HTTP API against raw LangGraph.

One cycle is the ``code_review`` pipeline on a low-risk diff: start -> analysis -> tests ->
deploy-approval interrupt -> answer -> deploy -> completed.

* raw LangGraph: ``AsyncPostgresSaver`` on a pool, ``ainvoke`` to the interrupt and
  ``ainvoke(Command(resume=...))`` to the end, in this process;
* the service: a ``hitl serve`` process, over HTTP from this process; per cycle either four
  calls (``POST /threads``, ``GET /threads/{id}/wait`` for the interrupt,
  ``POST /requests/{id}/respond``, ``GET /threads/{id}/wait`` for the end: `through_service`)
  or two that wait (``POST /threads?wait=`` and ``POST /threads/{id}/resume?wait=``:
  `through_service_waiting`).

Both at the same concurrency, on the same Postgres, with the graph's durability mode.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.types import Command

from benchmarks import _setup
from graphs.samples import LOW_RISK_DIFF
from hitl import db
from hitl.checkpointer import PooledPostgresSaver
from hitl.registry import default_registry, load_modules

INPUT = {"diff": LOW_RISK_DIFF}
ANSWER = {"decision": "approve", "comment": "benchmark"}


async def _drive(cycles: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    """Run ``cycles`` cycles with ``concurrency`` workers; return cycles per second."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(cycles):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            await one(queue.get_nowait())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return cycles / (time.perf_counter() - started)


async def raw_langgraph(
    database_url: str, cycles: int, concurrency: int, *, pooled: bool = False
) -> float:
    """``pooled`` uses the service's lock-free saver instead of the stock one."""
    load_modules(["graphs"])
    spec = default_registry.get("code_review")
    async with db.create_pool(database_url, min_size=concurrency, max_size=concurrency + 4) as pool:
        saver_class = PooledPostgresSaver if pooled else AsyncPostgresSaver
        saver = saver_class(pool)  # type: ignore[arg-type]
        await saver.setup()
        graph = spec.builder.compile(checkpointer=saver)

        async def one(_i: int) -> None:
            config: dict[str, Any] = {"configurable": {"thread_id": f"raw-{uuid.uuid4()}"}}
            result = await graph.ainvoke(INPUT, config, durability=spec.durability)
            [interrupt] = result["__interrupt__"]
            result = await graph.ainvoke(
                Command(resume={interrupt.id: ANSWER}), config, durability=spec.durability
            )
            assert result["outcome"] == "deployed", result

        await _drive(concurrency, concurrency, one)  # warm-up
        return await _drive(cycles, concurrency, one)


def _client(base_url: str, concurrency: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency * 2)
    return httpx.AsyncClient(
        base_url=base_url, timeout=120, limits=limits, headers=_setup.auth_headers(base_url)
    )


async def through_service(base_url: str, cycles: int, concurrency: int) -> float:
    async with _client(base_url, concurrency) as client:

        async def one(_i: int) -> None:
            r = await client.post("/api/v1/threads", json={"graph": "code_review", "input": INPUT})
            thread_id = r.raise_for_status().json()["thread_id"]
            r = await client.get(f"/api/v1/threads/{thread_id}/wait", params={"timeout": 60})
            [interrupt] = r.raise_for_status().json()["interrupts"]
            r = await client.post(
                f"/api/v1/requests/{interrupt['request_id']}/respond", json={"response": ANSWER}
            )
            r.raise_for_status()
            r = await client.get(f"/api/v1/threads/{thread_id}/wait", params={"timeout": 60})
            body = r.raise_for_status().json()
            assert body["status"] == "completed", body

        await _drive(concurrency, concurrency, one)  # warm-up
        return await _drive(cycles, concurrency, one)


async def through_service_waiting(base_url: str, cycles: int, concurrency: int) -> float:
    async with _client(base_url, concurrency) as client:

        async def one(_i: int) -> None:
            r = await client.post(
                "/api/v1/threads",
                params={"wait": 60},
                json={"graph": "code_review", "input": INPUT},
            )
            body = r.raise_for_status().json()
            [interrupt] = body["interrupts"]
            r = await client.post(
                f"/api/v1/threads/{body['thread_id']}/resume",
                params={"wait": 60},
                json={"resume": {interrupt["interrupt_id"]: ANSWER}},
            )
            body = r.raise_for_status().json()
            assert body["status"] == "completed", body

        await _drive(concurrency, concurrency, one)  # warm-up
        return await _drive(cycles, concurrency, one)
