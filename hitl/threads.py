"""Threads: creating one (and queueing its first run), reading and listing them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from hitl import _cursor, errors, headlines
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
    actor_subject: str | None = None,
) -> ThreadWithValues:
    """Validate the input, then record the thread, its start run, event and audit entry;
    ``actor`` (and its `Principal.subject`) started it: its requests were asked for by them
    (`hitl.four_eyes`)."""
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
                "actor_subject": actor_subject,
            },
        )
        row = await cur.fetchone()
    if row is None:
        raise errors.ThreadExists(thread_id)
    return ThreadWithValues.model_validate(row)


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


# -- what the Agent Server door (hitl/agent_server) asks of threads -----------------------------


@dataclass(frozen=True)
class Gist:
    """What a thread is about, for a list of threads: a title, how it ended, what it waits for."""

    title: str | None
    outcome: str | None
    waiting_for: str | None  # the headline of its oldest pending request
    pending: int


async def gists(
    conn: AsyncConnection[Any], thread_ids: list[str], *, with_history: bool
) -> dict[str, Gist]:
    """The `Gist` of each thread, in one query: its values' ``title`` (else, ``with_history``,
    its latest request's: for those who may read past requests), its values' ``outcome``, and
    its oldest pending request (which the thread itself shows)."""
    if not thread_ids:
        return {}
    cur = await conn.execute(threads_sql.THREAD_GISTS, {"ids": thread_ids})
    found = {}
    for row in await cur.fetchall():
        title = row["title"] if isinstance(row["title"], str) and row["title"].strip() else None
        if title is None and with_history and (row["latest_value"] or row["latest_title"]):
            title = headlines.request_title(_Named(row["latest_title"], row["latest_value"]))
        waiting = (
            headlines.request_title(_Named(row["pending_title"], row["pending_value"]))
            if row["pending_count"]
            else None
        )
        outcome = row["outcome"]
        found[row["thread_id"]] = Gist(
            title=headlines.clip(title) if title else None,
            outcome=headlines.clip(outcome) if isinstance(outcome, str) else None,
            waiting_for=waiting,
            pending=row["pending_count"],
        )
    return found


@dataclass(frozen=True)
class _Named:
    """A request's title and (cut) value: what `headlines.request_title` reads."""

    title: str | None
    value: Any


async def create_empty(
    pool: AsyncConnectionPool[Any],
    thread_id: str,
    *,
    graph: str | None = None,
    metadata: dict[str, Any] | None = None,
    actor: str = "api",
    actor_subject: str | None = None,
) -> ThreadWithValues | None:
    """Record a thread with no run yet ('idle'), of ``graph`` if known; None when the id is
    taken."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            threads_sql.CREATE_EMPTY_THREAD,
            {
                "thread_id": thread_id,
                "graph": graph,
                "metadata": Jsonb(metadata or {}),
                "actor": actor,
                "actor_subject": actor_subject,
            },
        )
        row = await cur.fetchone()
    return ThreadWithValues.model_validate(row) if row is not None else None


async def merge_metadata(
    conn: AsyncConnection[Any], thread_id: str, metadata: dict[str, Any]
) -> ThreadWithValues:
    """The thread, with ``metadata``'s keys merged into its own."""
    cur = await conn.execute(
        threads_sql.MERGE_THREAD_METADATA, {"thread_id": thread_id, "metadata": Jsonb(metadata)}
    )
    row = await cur.fetchone()
    if row is None:
        raise errors.ThreadNotFound(thread_id)
    return ThreadWithValues.model_validate(row)


async def delete(pool: AsyncConnectionPool[Any], thread_id: str, *, actor: str = "api") -> None:
    """Delete a thread with its runs and requests, unless a run of it is queued, running or
    waiting its turn (409: deleting under a worker would leave it writing checkpoints of a
    thread that no longer exists). Its checkpoints are the caller's to delete, after."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            threads_sql.DELETE_IDLE_THREAD, {"thread_id": thread_id, "actor": actor}
        )
        if await cur.fetchone() is not None:
            return
        cur = await conn.execute(threads_sql.THREAD_BUSY, (thread_id,))
        row = await cur.fetchone()
    if row is None:
        raise errors.ThreadNotFound(thread_id)
    raise errors.Conflict(
        f"thread {thread_id!r} has a run queued or running: cancel it or wait for it to end "
        "before deleting the thread"
    )


@dataclass(frozen=True)
class Filters:
    """What a thread search keeps (every field optional): stored statuses, a graph, metadata
    and values containing these, these ids."""

    statuses: Sequence[str] | None = None
    graph: str | None = None
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    ids: Sequence[str] | None = None

    def params(self) -> dict[str, Any]:
        return {
            "statuses": list(self.statuses) if self.statuses is not None else None,
            "graph": self.graph,
            "metadata": Jsonb(self.metadata) if self.metadata is not None else None,
            "values": Jsonb(self.values) if self.values is not None else None,
            "ids": list(self.ids) if self.ids is not None else None,
        }


async def search(
    conn: AsyncConnection[Any],
    filters: Filters,
    *,
    sort: tuple[str, str] = ("created_at", "desc"),
    limit: int = 10,
    offset: int = 0,
) -> list[tuple[ThreadWithValues, list[dict[str, Any]]]]:
    """A page of threads matching ``filters`` in one of `threads_sql.SEARCH_ORDERS`, each
    with its pending requests (interrupt_id, value, response_schema): one query."""
    params = {**filters.params(), "limit": limit, "offset": offset}
    cur = await conn.execute(threads_sql.SEARCH_THREADS[sort], params)
    return [(ThreadWithValues.model_validate(row), row["pending"]) for row in await cur.fetchall()]


async def count(conn: AsyncConnection[Any], filters: Filters) -> int:
    cur = await conn.execute(threads_sql.COUNT_THREADS, filters.params())
    row = await cur.fetchone()
    return int(row["n"]) if row is not None else 0


#: How long a watch lasts unless renewed (the thread page renews it while open).
WATCH_SECONDS = 30.0


async def watch(conn: AsyncConnection[Any], thread_id: str, seconds: float = WATCH_SECONDS) -> None:
    """Someone watches the thread for ``seconds``: the runs it gets meanwhile are streamed, so
    their steps show on its page (migration 0027). Nothing for an unknown thread."""
    await conn.execute(threads_sql.WATCH_THREAD, {"thread_id": thread_id, "seconds": seconds})
