"""Threads: creating one (and queueing its first run), reading and listing them."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from hitl import _cursor, db, errors, events, runs
from hitl.db import queries as q
from hitl.models import Page, Thread, ThreadWithValues
from hitl.registry import GraphSpec
from hitl.schemas import validate_input


async def create(
    pool: AsyncConnectionPool[Any],
    spec: GraphSpec,
    input: Any,
    *,
    thread_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    actor: str = "api",
) -> Thread:
    """Validate the input, record the thread and queue its start run, in one transaction."""
    input = validate_input(spec.input_adapter, input)
    thread_id = thread_id or str(uuid.uuid4())
    async with db.transaction(pool) as conn:
        cur = await conn.execute(q.INSERT_THREAD, (thread_id, spec.name, Jsonb(metadata or {})))
        row = await cur.fetchone()
        if row is None:
            raise errors.ThreadExists(thread_id)
        await runs.enqueue(conn, thread_id, "start", input)
        await events.emit(
            conn, "thread.created", thread_id, {"thread_id": thread_id, "graph": spec.name}
        )
        await events.audit(conn, actor, "thread.create", thread_id, {"graph": spec.name})
        return Thread.model_validate(row)


async def get(conn: AsyncConnection[Any], thread_id: str) -> ThreadWithValues:
    cur = await conn.execute(q.GET_THREAD, (thread_id,))
    row = await cur.fetchone()
    if row is None:
        raise errors.ThreadNotFound(thread_id)
    return ThreadWithValues.model_validate(row)


async def set_rest(
    conn: AsyncConnection[Any],
    thread_id: str,
    status: str,
    *,
    values: Any = None,
    error: dict[str, Any] | None = None,
) -> Thread:
    """Record where a run left the thread (``values`` None keeps the previous ones)."""
    cur = await conn.execute(
        q.SET_THREAD_REST,
        {
            "thread_id": thread_id,
            "status": status,
            "error": Jsonb(error) if error else None,
            "values": Jsonb(values) if values is not None else None,
        },
    )
    row = await cur.fetchone()
    if row is None:
        raise errors.ThreadNotFound(thread_id)
    return Thread.model_validate(row)


async def list_page(
    conn: AsyncConnection[Any],
    *,
    status: str | None = None,
    graph: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[Thread]:
    at, key = _cursor.decode(cursor) if cursor else (None, None)
    params = {"status": status, "graph": graph, "at": at, "key": key, "limit": limit + 1}
    cur = await conn.execute(q.LIST_THREADS, params)
    rows = await cur.fetchall()
    items = [Thread.model_validate(r) for r in rows[:limit]]
    more = len(rows) > limit
    next_cursor = _cursor.encode(items[-1].updated_at, items[-1].thread_id) if more else None
    return Page[Thread](items=items, next_cursor=next_cursor)
