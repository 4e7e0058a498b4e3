"""The few reads only the web UI needs (explicit, parameterised SQL)."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from hitl.models import REQUEST_STATES

#: Counts stop here: "10,000+" tells a person as much as an exact figure, and the query stays
#: an index scan of bounded length however large the history grows.
COUNT_CAP = 10_000

COUNT_REQUESTS_BY_STATE = """
SELECT s.state, (
    SELECT count(*) FROM (
        SELECT 1 FROM hitl_requests r WHERE r.state = s.state LIMIT %(cap)s + 1
    ) capped
) AS n
FROM unnest(%(states)s::text[]) AS s(state)
"""


async def request_counts(conn: AsyncConnection[Any]) -> dict[str, int]:
    """How many requests are in each state (zeros included), counted up to `COUNT_CAP` + 1."""
    cur = await conn.execute(
        COUNT_REQUESTS_BY_STATE, {"cap": COUNT_CAP, "states": list(REQUEST_STATES)}
    )
    return {row["state"]: int(row["n"]) for row in await cur.fetchall()}


def show_count(n: int) -> str:
    return f"{COUNT_CAP:,}+" if n > COUNT_CAP else f"{n:,}"
