"""The event outbox: events written with the state change they report, relayed to Redis.

`emit` runs inside the caller's transaction, so an event exists if and only if its state
change committed. `relay` moves committed events to the ``hitl:events`` Redis Stream; a Redis
outage delays events and loses none.
"""

from __future__ import annotations

import json
from typing import Any

from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from hitl import keys
from hitl.db import queries as q

STREAM_MAXLEN = 100_000


async def relay(pool: AsyncConnectionPool[Any], redis: Redis, batch: int = 200) -> int:
    """Copy up to ``batch`` unrelayed events to the stream; return how many went."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(q.LOCK_UNRELAYED_EVENTS, (batch,))
        rows = await cur.fetchall()
        if not rows:
            return 0
        async with redis.pipeline(transaction=False) as pipe:
            for row in rows:
                pipe.xadd(
                    keys.EVENTS_STREAM,
                    {
                        "id": str(row["id"]),
                        "type": row["type"],
                        "subject": row["subject"],
                        "time": row["created_at"].isoformat(),
                        "data": json.dumps(row["data"]),
                    },
                    maxlen=STREAM_MAXLEN,
                    approximate=True,
                )
            await pipe.execute()
        await conn.execute(q.MARK_EVENTS_RELAYED, ([row["id"] for row in rows],))
        return len(rows)
