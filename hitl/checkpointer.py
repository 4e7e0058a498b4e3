"""LangGraph's Postgres checkpointer, without the process-wide lock when it has a pool.

`AsyncPostgresSaver` takes one ``asyncio.Lock`` around every database call, also when it was
given a connection pool, so a process checkpoints one graph step at a time whatever the pool
size (langgraph issue #7259, fix proposed in PR #7269). With a pool each call checks out a
connection of its own, so the lock protects nothing; this subclass drops it in that case and
keeps it for a single shared connection.
"""

from __future__ import annotations

import contextlib
from typing import Any

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg_pool import AsyncConnectionPool


class PooledPostgresSaver(AsyncPostgresSaver):
    """`AsyncPostgresSaver` whose calls run concurrently on a pool's connections."""

    def __init__(self, conn: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(conn, *args, **kwargs)
        if isinstance(conn, AsyncConnectionPool) and self.pipe is None:
            self.lock = contextlib.nullcontext()  # type: ignore[assignment]
