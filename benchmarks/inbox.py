"""Latency of the inbox: a 50-item page of pending requests, with few and with many pending.

Pending requests are bulk-inserted with SQL (through the API it would take an hour); the page is
fetched over HTTP from a running service, the first page and pages further down (by cursor).
"""

from __future__ import annotations

import statistics
import time
from typing import TypedDict

import httpx
import psycopg

from benchmarks import _setup


class Stats(TypedDict):
    p50: float
    p95: float


SEED = """
INSERT INTO hitl_threads (thread_id, graph, status)
SELECT 'seed-' || i, 'code_review', 'interrupted'
FROM generate_series(%(start)s::int, %(stop)s::int) i;
INSERT INTO hitl_requests
    (thread_id, interrupt_id, graph, state, value, response_schema, created_at, deadline_at,
     priority)
SELECT 'seed-' || i, md5(i::text), 'code_review', 'pending',
       jsonb_build_object('kind', 'deploy_approval', 'title', 'change ' || i),
       '{"type": "object", "properties": {"decision": {"enum": ["approve", "reject"]}}}'::jsonb,
       now() - i * interval '1 second', now() + interval '1 hour' + i * interval '1 second',
       i %% 4
FROM generate_series(%(start)s::int, %(stop)s::int) i;
"""


def seed(database_url: str, total: int) -> None:
    """Insert ``total`` pending requests (one thread each) in batches."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for start in range(1, total + 1, 20_000):
            stop = min(start + 19_999, total)
            for statement in filter(str.strip, SEED.split(";")):
                conn.execute(statement, {"start": start, "stop": stop})  # type: ignore[arg-type]
        conn.execute("ANALYZE hitl_requests")
        conn.execute("ANALYZE hitl_threads")


def page_latencies(
    small_url: str,
    large_url: str,
    samples: int,
    *,
    ui: bool = False,
    extra: dict[str, str] | None = None,
) -> tuple[Stats, Stats]:
    """p50/p95 (ms) of ``GET /api/v1/requests?state=pending&limit=50`` (or, with ``ui``, the
    web inbox ``GET /?state=pending``) on two services, the samples alternating between them;
    every other API sample follows the cursor one page down."""
    timings: dict[str, list[float]] = {small_url: [], large_url: []}
    cursors: dict[str, str | None] = {small_url: None, large_url: None}
    with httpx.Client(timeout=30) as client:
        for i in range(samples + 20):
            for base in (small_url, large_url):
                params: dict[str, str | int] = {"state": "pending", "limit": 50, **(extra or {})}
                if cursors[base] and i % 2:
                    params["cursor"] = cursors[base]  # type: ignore[assignment]
                started = time.perf_counter()
                if ui:
                    r = client.get(
                        base + "/",
                        params={"state": "pending", **(extra or {})},
                        headers=_setup.auth_headers(base),
                    )
                    elapsed = time.perf_counter() - started
                    assert r.raise_for_status().text.count('class="req-link"') == 50
                else:
                    r = client.get(
                        base + "/api/v1/requests", params=params, headers=_setup.auth_headers(base)
                    )
                    elapsed = time.perf_counter() - started
                    body = r.raise_for_status().json()
                    assert len(body["items"]) == 50, body
                    cursors[base] = body["next_cursor"]
                if i >= 20:  # warm-up
                    timings[base].append(elapsed * 1000)
    return _stats(timings[small_url]), _stats(timings[large_url])


def _stats(timings: list[float]) -> Stats:
    ordered = sorted(timings)
    return {"p50": statistics.median(ordered), "p95": ordered[int(len(ordered) * 0.95) - 1]}
