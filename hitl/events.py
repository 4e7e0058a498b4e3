"""The event outbox: events written with the state change they report, relayed to the bus.

`emit` runs inside the caller's transaction, so an event exists if and only if its state
change committed. `relay` publishes committed events on the event bus (`hitl.bus`, the
``hitl:events`` Redis Stream) as CloudEvents-style envelopes whose ``id`` is the outbox row's
id: a Redis outage delays events and loses none, and an event relayed twice (the commit after
the publish failed) carries the same id, so consumers deduplicate it.
"""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from hitl.bus import Bus, Event, JSONText
from hitl.db.sql import events as events_sql

SOURCE = "hitl"


async def relay(pool: AsyncConnectionPool[Any], bus: Bus, batch: int = 200) -> int:
    """Publish up to ``batch`` unrelayed events; return how many went."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(events_sql.TAKE_UNRELAYED_EVENTS, (batch,))
        rows = sorted(await cur.fetchall(), key=lambda row: row["id"])
        await bus.publish_many(
            [
                Event(
                    id=str(row["id"]),
                    type=row["type"],
                    source=SOURCE,
                    subject=row["subject"],
                    time=row["created_at"].isoformat(),
                    data=JSONText(row["data"]),  # as stored: not decoded to be encoded again
                )
                for row in rows
            ]
        )
        return len(rows)
