"""Reading deliveries with their attempt log, and sending one again (same ``webhook-id``).

Each function takes ``owner``: the subject whose endpoints' deliveries alone the caller may see
and send again, or None for every delivery (admins); see `hitl.webhooks.endpoints`. Another
principal's delivery is "not found"."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any, Literal

from psycopg import AsyncConnection
from pydantic import BaseModel, Field

from hitl import _cursor, errors
from hitl.db.sql import deliveries as deliveries_sql
from hitl.models import Page

DeliveryState = Literal["pending", "delivering", "succeeded", "failed"]


class DeliveryNotFound(errors.NotFound):
    def __init__(self, delivery_id: str) -> None:
        super().__init__(f"delivery {delivery_id!r} not found")


class AttemptRecord(BaseModel):
    """One attempt: when, the ``webhook-timestamp`` it carried, what came of it."""

    id: int
    attempt: int
    at: datetime
    webhook_timestamp: int | None = None
    outcome: Literal["succeeded", "failed", "blocked", "timeout", "error"]
    status_code: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    response_excerpt: str | None = None


class DeliveryStatus(BaseModel):
    """Where one message to one endpoint stands. ``id`` is its ``webhook-id`` on every attempt."""

    id: str
    endpoint_id: str
    event_type: str
    kind: Literal["event", "callback"]
    request_id: str | None = None
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    created_at: datetime
    delivered_at: datetime | None = None


class Delivery(DeliveryStatus):
    """A delivery with what it sends and every attempt so far."""

    payload: Any = None
    attempt_log: list[AttemptRecord] = Field(default_factory=list)


def _record(row: dict[str, Any]) -> Delivery:
    return Delivery.model_validate(
        {
            **row,
            "id": str(row["id"]),
            "endpoint_id": str(row["endpoint_id"]),
            "request_id": str(row["request_id"]) if row["request_id"] else None,
            "payload": json.loads(row["body"]),
            "next_attempt_at": row["next_attempt_at"] if row["state"] == "pending" else None,
            "attempt_log": row["attempts_log"],
        }
    )


def _uuid(value: str, missing: type[errors.NotFound]) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise missing(value) from None


async def get(conn: AsyncConnection[Any], delivery_id: str, *, owner: str | None) -> Delivery:
    cur = await conn.execute(
        deliveries_sql.GET_DELIVERY, {"id": _uuid(delivery_id, DeliveryNotFound), "owner": owner}
    )
    row = await cur.fetchone()
    if row is None:
        raise DeliveryNotFound(delivery_id)
    return _record(row)


async def of_endpoint(
    conn: AsyncConnection[Any], endpoint_id: str, *, limit: int = 50, cursor: str | None = None
) -> Page[Delivery]:
    at, key = _cursor.decode(cursor, uuid_key=True) if cursor else (None, None)
    cur = await conn.execute(
        deliveries_sql.LIST_DELIVERIES_OF_ENDPOINT,
        {"endpoint_id": endpoint_id, "at": at, "key": key, "limit": limit + 1},
    )
    rows = await cur.fetchall()
    items = [_record(r) for r in rows[:limit]]
    more = len(rows) > limit
    next_cursor = _cursor.encode(items[-1].created_at, items[-1].id) if more else None
    return Page[Delivery](items=items, next_cursor=next_cursor)


async def of_request(
    conn: AsyncConnection[Any], request_id: str, *, owner: str | None = None
) -> list[Delivery]:
    """The request's deliveries (to ``owner``'s endpoints only, unless None), oldest first."""
    cur = await conn.execute(
        deliveries_sql.LIST_DELIVERIES_OF_REQUEST, {"request_id": request_id, "owner": owner}
    )
    return [_record(r) for r in await cur.fetchall()]


async def redeliver(
    conn: AsyncConnection[Any],
    delivery_id: str,
    *,
    actor: str = "system:service",
    owner: str | None = None,
) -> Delivery:
    """Send again now, with the same ``webhook-id`` (one attempt if it had finished)."""
    cur = await conn.execute(
        deliveries_sql.REDELIVER,
        {"id": _uuid(delivery_id, DeliveryNotFound), "actor": actor, "owner": owner},
    )
    if await cur.fetchone() is None:
        raise DeliveryNotFound(delivery_id)
    return await get(conn, delivery_id, owner=owner)
