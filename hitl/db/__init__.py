"""Postgres access: the connection pool, migrations and the SQL the service runs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

# LangGraph's AsyncPostgresSaver needs autocommit and dict rows (its own setting, kept). Every
# statement is prepared on its first use (``prepare_threshold=0``), which the few statement
# texts of the service repay at once (behind PgBouncer, 1.21 or later with
# max_prepared_statements set). Writes that need more than one statement open a transaction.
CONNECTION_KWARGS: dict[str, Any] = {
    "autocommit": True,
    "prepare_threshold": 0,
    "row_factory": dict_row,
}


def create_pool(url: str, *, min_size: int = 2, max_size: int = 20) -> AsyncConnectionPool[Any]:
    """A closed pool; open it with ``await pool.open(wait=True)`` (or ``async with``)."""
    return AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs=CONNECTION_KWARGS,
        open=False,
        name="hitl",
    )


@contextlib.asynccontextmanager
async def transaction(pool: AsyncConnectionPool[Any]) -> AsyncIterator[AsyncConnection[Any]]:
    """A connection from the pool inside one transaction."""
    async with pool.connection() as conn, conn.transaction():
        yield conn
