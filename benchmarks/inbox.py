"""Latency of the inbox: a 50-item page of pending requests, with few and with many pending.

Pending requests are bulk-inserted with SQL (through the API it would take an hour); the page is
fetched over HTTP from a running service, the first page and pages further down (by cursor).
"""

from __future__ import annotations

import statistics
import time

import httpx
import psycopg

SEED = """
INSERT INTO hitl_threads (thread_id, graph, status)
SELECT 'seed-' || i, 'code_review', 'interrupted'
FROM generate_series(%(start)s::int, %(stop)s::int) i;
INSERT INTO hitl_requests
    (thread_id, interrupt_id, graph, state, value, response_schema, created_at)
SELECT 'seed-' || i, md5(i::text), 'code_review', 'pending',
       jsonb_build_object('kind', 'deploy_approval', 'title', 'change ' || i),
       '{"type": "object", "properties": {"decision": {"enum": ["approve", "reject"]}}}'::jsonb,
       now() - i * interval '1 second'
FROM generate_series(%(start)s::int, %(stop)s::int) i;
"""


def seed(database_url: str, total: int, already: int) -> None:
    """Bring the pending requests up to ``total``."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for start in range(already + 1, total + 1, 20_000):
            stop = min(start + 19_999, total)
            for statement in filter(str.strip, SEED.split(";")):
                conn.execute(statement, {"start": start, "stop": stop})  # type: ignore[arg-type]
        conn.execute("ANALYZE hitl_requests")
        conn.execute("ANALYZE hitl_threads")


def page_latencies(base_url: str, samples: int) -> dict[str, float]:
    """p50/p95 in milliseconds of GET /api/v1/requests?state=pending&limit=50."""
    timings = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        cursor = None
        for i in range(samples + 10):
            params = {"state": "pending", "limit": 50}
            if cursor and i % 2:
                params["cursor"] = cursor  # every other sample reads the next page down
            started = time.perf_counter()
            r = client.get("/api/v1/requests", params=params)
            elapsed = time.perf_counter() - started
            body = r.raise_for_status().json()
            assert len(body["items"]) == 50, body
            cursor = body["next_cursor"]
            if i >= 10:  # warm-up
                timings.append(elapsed * 1000)
    timings.sort()
    return {
        "p50": statistics.median(timings),
        "p95": timings[int(len(timings) * 0.95) - 1],
    }
