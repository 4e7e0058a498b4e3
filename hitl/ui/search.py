"""The inbox's text search and its per-state counts (the SQL is in hitl/db/sql/requests.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from hitl import _cursor, requests
from hitl.db.sql import requests as requests_sql
from hitl.models import REQUEST_STATES, Page, Request

#: Counts stop here: "1,000+" tells a person as much as an exact figure, and the query stays
#: an index scan of bounded length however large the history grows.
COUNT_CAP = 1_000


async def request_counts(conn: AsyncConnection[Any]) -> dict[str, int]:
    """How many requests are in each state (zeros included), counted up to `COUNT_CAP` + 1."""
    params: dict[str, Any] = {f"s{i}": state for i, state in enumerate(REQUEST_STATES)}
    cur = await conn.execute(requests_sql.COUNT_REQUESTS_BY_STATE, {**params, "cap": COUNT_CAP})
    return {row["state"]: int(row["n"]) for row in await cur.fetchall()}


def show_count(n: int) -> str:
    return f"{COUNT_CAP:,}+" if n > COUNT_CAP else f"{n:,}"


def like_pattern(text: str) -> str:
    """``text`` as a literal substring for ILIKE (its % and _ matched as themselves)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_requests(
    conn: AsyncConnection[Any],
    text: str,
    *,
    state: str | None,
    graph: str | None,
    limit: int,
    cursor: str | None,
    assigned_to: str | None = None,
    claimed_by: str | None = None,
    assignee: str | None = None,
    group_of: str | None = None,
    due_before: datetime | None = None,
) -> Page[Request]:
    at, key = _cursor.decode(cursor, uuid_key=True) if cursor else (None, None)
    cur = await conn.execute(
        requests_sql.SEARCH_REQUESTS,
        {
            "state": state,
            "graph": graph,
            "pattern": like_pattern(text),
            "assigned_to": assigned_to,
            "claimed_by": claimed_by,
            "assignee": assignee,
            "group_of": group_of,
            "due_before": due_before,
            "at": at,
            "key": key,
            "limit": limit + 1,
        },
    )
    return requests.page_of(await cur.fetchall(), limit)
