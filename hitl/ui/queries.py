"""The few reads only the web UI needs (explicit, parameterised SQL)."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from hitl import _cursor, requests
from hitl.db.queries import ASSIGNED_TO_FILTER
from hitl.models import REQUEST_STATES, Page, Request

#: Counts stop here: "1,000+" tells a person as much as an exact figure, and the query stays
#: an index scan of bounded length however large the history grows.
COUNT_CAP = 1_000

# One bounded index range per state (a scalar subquery each, so that each is planned for its own
# state; a join over a list of states makes the planner scan the table instead).
COUNT_REQUESTS_BY_STATE = "\nUNION ALL\n".join(
    f"SELECT %(s{i})s AS state, (SELECT count(*) FROM (SELECT 1 FROM hitl_requests"
    f" WHERE state = %(s{i})s LIMIT %(cap)s + 1) capped) AS n"
    for i in range(len(REQUEST_STATES))
)


async def request_counts(conn: AsyncConnection[Any]) -> dict[str, int]:
    """How many requests are in each state (zeros included), counted up to `COUNT_CAP` + 1."""
    params: dict[str, Any] = {f"s{i}": state for i, state in enumerate(REQUEST_STATES)}
    cur = await conn.execute(COUNT_REQUESTS_BY_STATE, {**params, "cap": COUNT_CAP})
    return {row["state"]: int(row["n"]) for row in await cur.fetchall()}


def show_count(n: int) -> str:
    return f"{COUNT_CAP:,}+" if n > COUNT_CAP else f"{n:,}"


# Text search over what a person sees of a request (its value, an external request's title and
# description) and its thread id (``assigned_to`` as in the API's listing). Not
# index-backed: it scans the requests of the chosen state (an index range), newest first, and
# stops at one page, so it is quick for the inbox's usual case of a few thousand pending.
SEARCH_REQUESTS = f"""
SELECT * FROM hitl_requests
WHERE (%(state)s::text IS NULL OR state = %(state)s)
  AND (%(graph)s::text IS NULL OR graph = %(graph)s)
  AND (value::text ILIKE %(pattern)s OR title ILIKE %(pattern)s
       OR description ILIKE %(pattern)s OR thread_id ILIKE %(pattern)s)
  AND {ASSIGNED_TO_FILTER}
  AND (%(at)s::timestamptz IS NULL OR (created_at, id) < (%(at)s, %(key)s::uuid))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
"""


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
) -> Page[Request]:
    at, key = _cursor.decode(cursor, uuid_key=True) if cursor else (None, None)
    cur = await conn.execute(
        SEARCH_REQUESTS,
        {
            "state": state,
            "graph": graph,
            "pattern": like_pattern(text),
            "assigned_to": assigned_to,
            "at": at,
            "key": key,
            "limit": limit + 1,
        },
    )
    return requests.page_of(await cur.fetchall(), limit)
