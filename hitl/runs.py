"""The run queue in Postgres: enqueue, claim with a lease, heartbeat, finish, take over.

Invariant: a thread has at most one run that is queued or running (a partial unique index).
A run gathers every answer recorded before it starts; an answer that arrives while it runs
queues the next run when this one finishes (see `hitl.runner`). A worker that dies leaves its
run ``running`` with a lease that nobody renews; `reap_expired` puts it back in the queue.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from hitl.db import queries as q
from hitl.models import Run


class ClaimedRun(Run):
    graph: str


async def enqueue(
    conn: AsyncConnection[Any], thread_id: str, kind: str, input: Any = None
) -> int | None:
    """Queue a run unless the thread already has one queued or running; return its id."""
    cur = await conn.execute(
        q.ENQUEUE_RUN, (thread_id, kind, Jsonb(input) if input is not None else None)
    )
    row = await cur.fetchone()
    return None if row is None else int(row["id"])


async def enqueue_resume_if_answered(conn: AsyncConnection[Any], thread_id: str) -> bool:
    """Queue a resume if the thread has answers no run has taken yet."""
    cur = await conn.execute(q.ENQUEUE_RESUME_IF_ANSWERED, {"thread_id": thread_id})
    return await cur.fetchone() is not None


async def claim(
    conn: AsyncConnection[Any], owner: str, lease_seconds: float, limit: int
) -> list[ClaimedRun]:
    """Take up to ``limit`` due runs for ``owner``; their threads become ``running``."""
    cur = await conn.execute(q.CLAIM_RUNS, {"owner": owner, "lease": lease_seconds, "limit": limit})
    return [ClaimedRun.model_validate(row) for row in await cur.fetchall()]


async def heartbeat(
    conn: AsyncConnection[Any], owner: str, run_ids: list[int], lease_seconds: float
) -> set[int]:
    """Extend the leases of ``run_ids``; return the ids still held by ``owner``."""
    cur = await conn.execute(q.HEARTBEAT_RUNS, (lease_seconds, owner, run_ids))
    return {row["id"] for row in await cur.fetchall()}


async def finish(
    conn: AsyncConnection[Any], run_id: int, owner: str, error: dict[str, Any] | None
) -> bool:
    """Mark the run done (or failed); False if ``owner`` no longer holds it."""
    status = "failed" if error else "done"
    cur = await conn.execute(q.FINISH_RUN, (status, Jsonb(error) if error else None, run_id, owner))
    return await cur.fetchone() is not None


async def release(conn: AsyncConnection[Any], owner: str, run_ids: list[int]) -> None:
    """Give runs back to the queue (graceful shutdown); the attempt does not count."""
    await conn.execute(q.RELEASE_RUNS, (owner, run_ids))


async def reap_expired(conn: AsyncConnection[Any]) -> int:
    """Queue again the runs whose worker stopped renewing the lease (it died or hung)."""
    cur = await conn.execute(q.REAP_EXPIRED_RUNS)
    return len(await cur.fetchall())
