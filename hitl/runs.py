"""The run queue in Postgres: enqueue, claim with a lease, heartbeat, finish, take over.

Invariant: a thread has at most one run that is queued or running (a partial unique index).
A run gathers every answer recorded before it starts; an answer that arrives while it runs
queues the next run when this one finishes (see `hitl.runner`). A worker that dies leaves its
run ``running`` with a lease that nobody renews; `reap_expired` puts it back in the queue.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from hitl.db.sql import runs as runs_sql
from hitl.models import Run


class ClaimedRun(Run):
    graph: str


async def claim(
    conn: AsyncConnection[Any], owner: str, lease_seconds: float, limit: int
) -> list[ClaimedRun]:
    """Take up to ``limit`` due runs for ``owner``; their threads become ``running``."""
    cur = await conn.execute(
        runs_sql.CLAIM_RUNS, {"owner": owner, "lease": lease_seconds, "limit": limit}
    )
    return [ClaimedRun.model_validate(row) for row in await cur.fetchall()]


async def heartbeat(
    conn: AsyncConnection[Any], owner: str, run_ids: list[int], lease_seconds: float
) -> set[int]:
    """Extend the leases of ``run_ids``; return the ids still held by ``owner``."""
    cur = await conn.execute(runs_sql.HEARTBEAT_RUNS, (lease_seconds, owner, run_ids))
    return {row["id"] for row in await cur.fetchall()}


async def release(conn: AsyncConnection[Any], owner: str, run_ids: list[int]) -> None:
    """Give runs back to the queue (graceful shutdown); the attempt does not count."""
    await conn.execute(runs_sql.RELEASE_RUNS, (owner, run_ids))


async def reap_expired(conn: AsyncConnection[Any]) -> int:
    """Queue again the runs whose worker stopped renewing the lease (it died or hung)."""
    cur = await conn.execute(runs_sql.REAP_EXPIRED_RUNS)
    return len(await cur.fetchall())
