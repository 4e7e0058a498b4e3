"""Postgres access: the connection pool, migrations and the SQL the service runs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

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


def lost_connection(exc: BaseException) -> bool:
    """Whether ``exc`` says Postgres went away (a restart, a failover, a killed session), as
    opposed to a statement that failed: the connection broke (no SQLSTATE, or class 08), the
    server is shutting down or starting (57P01-57P03), or the pool found no connection in time.
    Statement timeouts and lock timeouts (also OperationalError) are not."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


@contextlib.asynccontextmanager
async def transaction(pool: AsyncConnectionPool[Any]) -> AsyncIterator[AsyncConnection[Any]]:
    """A connection from the pool inside one transaction."""
    async with pool.connection() as conn, conn.transaction():
        yield conn
