"""Threads: creating one (and queueing its first run), reading and listing them."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from hitl import _cursor, errors
from hitl.db.sql import threads as threads_sql
from hitl.models import Page, Thread, ThreadWithValues
from hitl.registry import GraphSpec
from hitl.validation import validate_input


async def create(
    pool: AsyncConnectionPool[Any],
    spec: GraphSpec,
    input: Any,
    *,
    thread_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    actor: str = "api",
) -> ThreadWithValues:
    """Validate the input, then record the thread, its start run, event and audit entry."""
    input = validate_input(spec.input_adapter, input)
    thread_id = thread_id or str(uuid.uuid4())
    async with pool.connection() as conn:
        cur = await conn.execute(
            threads_sql.CREATE_THREAD,
            {
                "thread_id": thread_id,
                "graph": spec.name,
                "metadata": Jsonb(metadata or {}),
                "input": Jsonb(input),
                "actor": actor,
            },
        )
        row = await cur.fetchone()
    if row is None:
        raise errors.ThreadExists(thread_id)
    return ThreadWithValues.model_validate(row)


async def create_empty(
    conn: AsyncConnection[Any],
    thread_id: str,
    *,
    graph: str | None = None,
    metadata: dict[str, Any] | None = None,
    actor: str = "api",
) -> ThreadWithValues | None:
    """Record a thread with no run yet (idle); None when the id is taken."""
    cur = await conn.execute(
        threads_sql.CREATE_EMPTY_THREAD,
        {"thread_id": thread_id, "graph": graph, "metadata": Jsonb(metadata or {}), "actor": actor},
    )
    row = await cur.fetchone()
    return ThreadWithValues.model_validate(row) if row else None


def validated_input(spec: GraphSpec, value: Any) -> Any:
    """``value`` as the graph's input schema reads it (`errors.InvalidInput` if it does not)."""
    return validate_input(spec.input_adapter, value)


async def get(conn: AsyncConnection[Any], thread_id: str) -> ThreadWithValues:
    cur = await conn.execute(threads_sql.GET_THREAD, (thread_id,))
    row = await cur.fetchone()
    if row is None:
        raise errors.ThreadNotFound(thread_id)
    return ThreadWithValues.model_validate(row)


async def get_with_pending(
    conn: AsyncConnection[Any], thread_id: str
) -> tuple[ThreadWithValues, list[dict[str, Any]]]:
    """A thread and its pending requests (as stored rows), in one query."""
    cur = await conn.execute(threads_sql.GET_THREAD_WITH_PENDING, (thread_id,))
    row = await cur.fetchone()
    if row is None:
        raise errors.ThreadNotFound(thread_id)
    return ThreadWithValues.model_validate(row), row["pending"]


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
    cur = await conn.execute(threads_sql.LIST_THREADS, params)
    rows = await cur.fetchall()
    items = [Thread.model_validate(r) for r in rows[:limit]]
    more = len(rows) > limit
    next_cursor = _cursor.encode(items[-1].updated_at, items[-1].thread_id) if more else None
    return Page[Thread](items=items, next_cursor=next_cursor)
