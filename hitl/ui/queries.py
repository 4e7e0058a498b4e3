"""The few reads only the web UI needs (explicit, parameterised SQL)."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from hitl.models import REQUEST_STATES

COUNT_REQUESTS_BY_STATE = "SELECT state, count(*) AS n FROM hitl_requests GROUP BY state"


async def request_counts(conn: AsyncConnection[Any]) -> dict[str, int]:
    """How many requests are in each state (every state listed, zeros included)."""
    cur = await conn.execute(COUNT_REQUESTS_BY_STATE)
    found = {row["state"]: int(row["n"]) for row in await cur.fetchall()}
    return {state: found.get(state, 0) for state in REQUEST_STATES}
