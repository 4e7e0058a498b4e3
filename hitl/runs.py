"""The run queue in Postgres: enqueue, claim with a lease, heartbeat, finish, take over.

Invariant: a thread has at most one run that is queued or running (a partial unique index).
A run gathers every answer recorded before it starts; an answer that arrives while it runs
queues the next run when this one finishes (see `hitl.runner`). A worker that dies leaves its
run ``running`` with a lease that nobody renews; `reap_expired` puts it back in the queue.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.errors import ForeignKeyViolation, UniqueViolation
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from hitl import errors
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


# -- a thread's next run (the Agent Server door: hitl/agent_server) --------------------------------

Multitask = Literal["reject", "enqueue"]


class ThreadBusy(errors.Conflict):
    def __init__(self, thread_id: str) -> None:
        super().__init__(
            f"thread {thread_id!r} has a run queued or running (multitask_strategy 'reject'); "
            "wait for it, or send multitask_strategy 'enqueue' to run after it"
        )


class OtherGraph(errors.Conflict):
    def __init__(self, thread_id: str, graph: str, asked: str) -> None:
        super().__init__(
            f"thread {thread_id!r} runs graph {graph!r}, not {asked!r}: a thread has one graph"
        )


async def queue(
    pool: AsyncConnectionPool[Any],
    thread_id: str,
    graph: str,
    kind: Literal["input", "update"],
    input: Any,
    options: dict[str, Any],
    *,
    strategy: Multitask,
    actor: str,
) -> ClaimedRun:
    """Queue the thread's next run: new input (or a command's update/goto) or a state update.
    With a run already active, ``reject`` refuses (`ThreadBusy`) and ``enqueue`` leaves it
    pending behind that one (see the statements' comment in hitl/db/sql/runs.py)."""
    params = {
        "thread_id": thread_id,
        "graph": graph,
        "kind": kind,
        "input": Jsonb(input),
        "options": Jsonb(options),
        "actor": actor,
        "action": "thread.update_state" if kind == "update" else "run.create",
    }
    async with pool.connection() as conn:
        row = await (await conn.execute(runs_sql.QUEUE_RUN, params)).fetchone()
        if row is None:
            await _why_not(conn, thread_id, graph)  # gone, or of another graph: raises
            if strategy == "reject":
                raise ThreadBusy(thread_id)
            try:
                row = await (await conn.execute(runs_sql.QUEUE_PENDING_RUN, params)).fetchone()
            except ForeignKeyViolation:  # deleted meanwhile
                row = None
            if row is None:
                await _why_not(conn, thread_id, graph)
                raise errors.ThreadNotFound(thread_id)
            await promote(conn, thread_id)
    return ClaimedRun.model_validate({**row, "graph": graph})


async def _why_not(conn: AsyncConnection[Any], thread_id: str, graph: str) -> None:
    """Raise why a run of ``graph`` cannot go to the thread, if it is not that it is busy."""
    thread = await (await conn.execute(runs_sql.THREAD_GRAPH, (thread_id,))).fetchone()
    if thread is None:
        raise errors.ThreadNotFound(thread_id)
    if thread["graph"] not in (None, graph):
        raise OtherGraph(thread_id, thread["graph"], graph)


async def promote(conn: AsyncConnection[Any], thread_id: str) -> None:
    """Queue the thread's oldest pending run unless a run is active (the index decides)."""
    try:
        async with conn.transaction():
            await conn.execute(runs_sql.PROMOTE_PENDING, {"thread_id": thread_id})
    except UniqueViolation:
        pass  # a run is active: its record promotes the pending one


async def find(conn: AsyncConnection[Any], thread_id: str, run_id: str) -> ClaimedRun:
    cur = await conn.execute(runs_sql.RUN_BY_PUBLIC_ID, (thread_id, _uuid(run_id, thread_id)))
    row = await cur.fetchone()
    if row is None:
        raise RunNotFound(thread_id, run_id)
    return ClaimedRun.model_validate(row)


async def active(conn: AsyncConnection[Any], thread_id: str) -> Run | None:
    row = await (await conn.execute(runs_sql.ACTIVE_RUN, (thread_id,))).fetchone()
    return Run.model_validate(row) if row else None


async def run_from(conn: AsyncConnection[Any], thread_id: str, first_id: int) -> Run | None:
    """The thread's first run whose id is ``first_id`` or later (runs in the order asked)."""
    params = {"thread_id": thread_id, "from": first_id}
    row = await (await conn.execute(runs_sql.THREAD_RUN_FROM, params)).fetchone()
    return Run.model_validate(row) if row else None


async def latest(conn: AsyncConnection[Any], thread_id: str) -> Run | None:
    row = await (await conn.execute(runs_sql.LATEST_THREAD_RUN, (thread_id,))).fetchone()
    return Run.model_validate(row) if row else None


async def of_thread(
    conn: AsyncConnection[Any],
    thread_id: str,
    *,
    statuses: list[str] | None,
    limit: int,
    offset: int,
) -> list[ClaimedRun]:
    params = {"thread_id": thread_id, "status": statuses, "limit": limit, "offset": offset}
    cur = await conn.execute(runs_sql.THREAD_RUNS, params)
    return [ClaimedRun.model_validate(r) for r in await cur.fetchall()]


async def cancel(
    conn: AsyncConnection[Any], thread_id: str, run_id: str, action: str
) -> ClaimedRun:
    """Cancel a run not yet started, or ask its worker to cancel a running one; 409 for a run
    that ended or applies answers."""
    run = await find(conn, thread_id, run_id)
    cur = await conn.execute(
        runs_sql.CANCEL_RUN, {"thread_id": thread_id, "run_id": run.public_id, "action": action}
    )
    row = await cur.fetchone()
    if row is None:
        if run.kind == "resume":
            raise errors.Conflict(
                f"run {run_id!r} applies answers to the thread's interrupts, which are final: "
                "it cannot be cancelled"
            )
        raise errors.Conflict(f"run {run_id!r} has ended ({run.status}): nothing to cancel")
    if row["status"] == "cancelled" and action == "rollback":
        # not started: nothing to undo but the run itself, forgotten as the Agent Server does
        await conn.execute(runs_sql.DELETE_RUN, (run.id,))
    await promote(conn, thread_id)
    return ClaimedRun.model_validate({**row, "graph": run.graph})


class RunNotFound(errors.NotFound):
    def __init__(self, thread_id: str, run_id: str) -> None:
        super().__init__(f"run {run_id!r} of thread {thread_id!r} not found")


def _uuid(run_id: str, thread_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(run_id)
    except ValueError:
        raise RunNotFound(thread_id, run_id) from None


async def delete(conn: AsyncConnection[Any], thread_id: str, run_id: str) -> None:
    """Forget a run that ended (409 for one queued or running: cancel it first)."""
    run = await find(conn, thread_id, run_id)
    cur = await conn.execute(runs_sql.DELETE_ENDED_RUN, (run.id,))
    if await cur.fetchone() is None:
        raise errors.Conflict(f"run {run_id!r} is {run.status}: cancel it before deleting it")
