"""The Agent Server door's thread search on a service's worth of threads: an inbox's query
(status interrupted, newest first) reads its page through the (status, created_at) index, not
the table; a metadata filter reads the GIN index; and a thread with a run under way is not
deleted.

The threads are made in SQL (thousands of finished ones with their answered requests, a few
interrupted), the table is
analyzed, and the search statement runs under ``EXPLAIN (ANALYZE, FORMAT JSON)`` with the
parameters the route passes, in a transaction rolled back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from hitl import threads
from hitl.agent_server import mapping
from hitl.db.sql import threads as threads_sql

FINISHED = 5000
WAITING = 5


@pytest.fixture
def seeded(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            """INSERT INTO hitl_threads (thread_id, graph, status, metadata, created_at)
               SELECT 'done-' || n, 'approval', 'completed',
                      jsonb_build_object('team', 'team-' || (n %% 50), 'ticket', 'T-' || n),
                      now() - n * interval '1 minute'
               FROM generate_series(1, %s) n""",
            (FINISHED,),
        )
        conn.execute(
            """INSERT INTO hitl_threads (thread_id, graph, status, metadata, created_at)
               SELECT 'waiting-' || n, 'approval', 'interrupted', '{"team": "billing"}',
                      now() - n * interval '1 hour'
               FROM generate_series(1, %s) n""",
            (WAITING,),
        )
        conn.execute(
            """INSERT INTO hitl_requests (thread_id, interrupt_id, graph, value, state)
               SELECT thread_id, 'i-' || thread_id, graph, '{"question": "approve?"}',
                      CASE WHEN status = 'interrupted' THEN 'pending' ELSE 'resumed' END
               FROM hitl_threads"""
        )
        conn.execute("ANALYZE hitl_threads")
        conn.execute("ANALYZE hitl_requests")


def _plan(database_url: str, filters: threads.Filters) -> dict[str, Any]:
    params = {**filters.params(), "limit": 11, "offset": 0}
    sql = threads_sql.SEARCH_THREADS["created_at", "desc"]
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        [row] = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params).fetchall()
        conn.rollback()
    top: dict[str, Any] = row["QUERY PLAN"][0]["Plan"]
    return top


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _scans_of(plan: dict[str, Any], table: str) -> list[dict[str, Any]]:
    return [node for node in _nodes(plan) if node.get("Relation Name") == table]


@pytest.mark.usefixtures("seeded")
def test_the_inbox_search_reads_its_page_through_the_status_index(database_url: str) -> None:
    interrupted = threads.Filters(statuses=mapping.STORED_STATUSES["interrupted"])
    plan = _plan(database_url, interrupted)
    [scan] = _scans_of(plan, "hitl_threads")
    assert scan["Node Type"] == "Index Scan", plan
    assert scan["Index Name"] == "hitl_threads_status_created", plan
    assert scan["Actual Rows"] * scan["Actual Loops"] == WAITING  # the waiting ones, no more
    assert scan.get("Rows Removed by Filter", 0) == 0
    for requests in _scans_of(plan, "hitl_requests"):  # their requests: by index, per thread
        assert requests["Node Type"] in ("Index Scan", "Bitmap Heap Scan"), plan


@pytest.mark.usefixtures("seeded")
def test_a_metadata_search_reads_the_gin_index(database_url: str) -> None:
    plan = _plan(database_url, threads.Filters(metadata={"ticket": "T-4321"}))
    [scan] = _scans_of(plan, "hitl_threads")
    assert scan["Node Type"] == "Bitmap Heap Scan", plan
    [index] = [n for n in _nodes(plan) if n["Node Type"] == "Bitmap Index Scan"]
    assert index["Index Name"] == "hitl_threads_metadata", plan


@pytest.mark.usefixtures("seeded")
async def test_search_and_count_through_the_door(client: httpx.AsyncClient) -> None:
    r = await client.post("/lg/threads/search", json={"status": "interrupted", "limit": 3})
    assert r.status_code == 200, r.text
    page = r.json()
    assert [t["thread_id"] for t in page] == ["waiting-1", "waiting-2", "waiting-3"]
    assert page[0]["interrupts"] == {
        "i-waiting-1": [{"id": "i-waiting-1", "value": {"question": "approve?"}}]
    }
    assert r.headers["x-pagination-next"] == "3"
    r = await client.post("/lg/threads/search", json={"status": "interrupted", "offset": 3})
    assert [t["thread_id"] for t in r.json()] == ["waiting-4", "waiting-5"]
    assert "x-pagination-next" not in r.headers
    r = await client.post("/lg/threads/count", json={"status": "idle"})
    assert r.json() == FINISHED  # 'completed' is the Agent Server's 'idle'


async def test_a_thread_with_a_run_under_way_is_not_deleted(client: httpx.AsyncClient) -> None:
    async with client.service.pool.connection() as conn:  # type: ignore[attr-defined]
        await conn.execute(
            "INSERT INTO hitl_threads (thread_id, graph, status) VALUES ('busy', 'nope', 'queued')"
        )
        # a graph no runner here knows: the run stays queued
        await conn.execute("INSERT INTO hitl_runs (thread_id, kind) VALUES ('busy', 'start')")
    r = await client.delete("/lg/threads/busy")
    assert r.status_code == 409 and "run queued or running" in r.json()["detail"]
    r = await client.get("/lg/threads/busy")
    assert r.status_code == 200 and r.json()["status"] == "busy"
