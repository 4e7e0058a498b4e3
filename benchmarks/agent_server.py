"""The Agent Server door (``/lg``) through LangGraph's own client: the cycle, and thread search.

* The cycle: the same ``code_review`` cycle as `benchmarks.cycle`, through ``langgraph_sdk``:
  ``threads.create()``, ``runs.wait(...input=...)`` to the interrupt, ``runs.wait(...,
  command={"resume": ...})`` to the end; three HTTP calls where our own API takes two
  (`cycle.through_service_waiting`), whose figure it is compared with, on the same service.
* The search: ``threads.search(status="interrupted", limit=10)`` through the client, with few
  and with many threads; the threads are bulk-inserted with SQL (mostly completed, one in
  twenty interrupted with a pending request), as `benchmarks.inbox` inserts requests.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from langgraph_sdk import get_client, get_sync_client

from benchmarks import _setup
from benchmarks.cycle import ANSWER, INPUT, _drive
from benchmarks.inbox import Stats, _stats

GRAPH = "code_review"
INTERRUPTED_EVERY = 20  # one thread in this many is interrupted, the rest completed


async def through_sdk(base_url: str, cycles: int, concurrency: int) -> float:
    """Cycles per second through ``langgraph_sdk`` at the service's ``/lg``."""
    client = get_client(url=base_url + "/lg", api_key=_setup.KEYS[base_url], timeout=120)

    async def one(_i: int) -> None:
        thread = await client.threads.create()
        first: Any = await client.runs.wait(thread["thread_id"], GRAPH, input=INPUT)
        [interrupt] = first["__interrupt__"]
        done: Any = await client.runs.wait(
            thread["thread_id"], GRAPH, command={"resume": {interrupt["id"]: ANSWER}}
        )
        assert done["outcome"] == "deployed", done

    try:
        await _drive(concurrency, concurrency, one)  # warm-up
        return await _drive(cycles, concurrency, one)
    finally:
        await client.aclose()


# Threads in a batch: completed ones with the request they answered (resumed), and every
# INTERRUPTED_EVERY-th one interrupted with its pending request; their values are a finished
# review's size.
SEED = """
INSERT INTO hitl_threads (thread_id, graph, status, values, created_at, updated_at)
SELECT 'seed-' || i, 'code_review',
       CASE WHEN i %% %(every)s = 0 THEN 'interrupted' ELSE 'completed' END,
       jsonb_build_object('diff', 'change ' || i, 'risk', 'low', 'tests_passed', true,
                          'outcome', CASE WHEN i %% %(every)s = 0 THEN NULL ELSE 'deployed' END),
       now() - i * interval '1 second', now() - i * interval '1 second'
FROM generate_series(%(start)s::int, %(stop)s::int) i;
INSERT INTO hitl_requests
    (thread_id, interrupt_id, graph, state, value, response_schema, response, responded_at,
     closed_at, created_at)
SELECT 'seed-' || i, md5(i::text), 'code_review',
       CASE WHEN i %% %(every)s = 0 THEN 'pending' ELSE 'resumed' END,
       jsonb_build_object('kind', 'deploy_approval', 'title', 'change ' || i),
       '{"type": "object", "properties": {"decision": {"enum": ["approve", "reject"]}}}'::jsonb,
       CASE WHEN i %% %(every)s = 0 THEN NULL ELSE '{"decision": "approve"}'::jsonb END,
       CASE WHEN i %% %(every)s = 0 THEN NULL ELSE now() END,
       CASE WHEN i %% %(every)s = 0 THEN NULL ELSE now() END,
       now() - i * interval '1 second'
FROM generate_series(%(start)s::int, %(stop)s::int) i;
"""


def seed(database_url: str, total: int) -> None:
    """Insert ``total`` threads (and a request each) in batches."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for start in range(1, total + 1, 20_000):
            stop = min(start + 19_999, total)
            for statement in filter(str.strip, SEED.split(";")):
                conn.execute(
                    statement,  # type: ignore[arg-type]
                    {"start": start, "stop": stop, "every": INTERRUPTED_EVERY},
                )
        conn.execute("ANALYZE hitl_requests")
        conn.execute("ANALYZE hitl_threads")


def search_latencies(small_url: str, large_url: str, samples: int) -> tuple[Stats, Stats]:
    """p50/p95 (ms) of ``threads.search(status="interrupted", limit=10)`` through the client
    on two services, the samples alternating between them, every other one a page down."""
    clients = {
        url: get_sync_client(url=url + "/lg", api_key=_setup.KEYS[url], timeout=30)
        for url in (small_url, large_url)
    }
    timings: dict[str, list[float]] = {small_url: [], large_url: []}
    try:
        for i in range(samples + 20):
            for url, client in clients.items():
                started = time.perf_counter()
                page = client.threads.search(status="interrupted", limit=10, offset=10 * (i % 2))
                elapsed = time.perf_counter() - started
                assert len(page) == 10, page
                assert all(t["status"] == "interrupted" and t["interrupts"] for t in page), page
                if i >= 20:  # warm-up
                    timings[url].append(elapsed * 1000)
    finally:
        for client in clients.values():
            client.close()
    return _stats(timings[small_url]), _stats(timings[large_url])
