"""The notifications table: which channels are on, claiming due notifications with a lease,
recording what an attempt came to, and reading a request's notifications.

Rows are written by the 0006 migration's trigger on ``hitl_events`` (see the package's
docstring); this module only moves them along ``pending -> sending -> sent | failed``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg import AsyncConnection
from pydantic import BaseModel

from hitl import models
from hitl.db.sql import notifications as notifications_sql
from hitl.notifications.content import RequestFacts

Channel = Literal["email", "slack"]
Status = models.NotificationStatus

# -- SQL ----------------------------------------------------------------------------------------


# -- records ------------------------------------------------------------------------------------


class Notification(BaseModel):
    """One message to one recipient about one event, and where it stands."""

    id: str
    channel: Channel
    recipient: str
    username: str | None = None
    event_id: int
    event_type: str
    request_id: str
    status: Status
    attempts: int
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None


@dataclass(frozen=True)
class Claimed:
    """A notification leased to this sender, with what its message needs."""

    id: str
    channel: Channel
    recipient: str
    username: str | None  # the recipient's account (email)
    event_type: str
    attempts: int  # counting the one about to be made
    details: dict[str, Any]
    request: RequestFacts

    @classmethod
    def of(cls, row: dict[str, Any]) -> Claimed:
        details = row["details"]
        return cls(
            id=str(row["id"]),
            channel=row["channel"],
            recipient=row["recipient"],
            username=row["username"],
            event_type=row["event_type"],
            attempts=row["attempts"],
            details=details if isinstance(details, dict) else json.loads(details or "{}"),
            request=RequestFacts(
                id=str(row["request_id"]),
                kind=row["kind"],
                graph=row["graph"],
                title=row["title"],
                value=row["value"],
                state=row["state"],
                deadline_at=row["deadline_at"],
                response_schema=row["response_schema"],
                claimed_by=row["claimed_by"],
                claim_expires_at=row["claim_expires_at"],
            ),
        )


# -- functions ----------------------------------------------------------------------------------


async def set_channels(conn: AsyncConnection[Any], channels: list[str]) -> dict[str, bool]:
    """Make ``channels`` the ones notifications are queued for; return those that changed."""
    cur = await conn.execute(notifications_sql.SET_CHANNELS, {"channels": channels})
    return {row["channel"]: row["enabled"] for row in await cur.fetchall()}


async def claim(
    conn: AsyncConnection[Any], owner: str, channels: list[str], lease: float, limit: int
) -> list[Claimed]:
    params = {"owner": owner, "channels": channels, "lease": lease, "limit": limit}
    cur = await conn.execute(notifications_sql.CLAIM, params)
    return [Claimed.of(row) for row in await cur.fetchall()]


async def record(
    conn: AsyncConnection[Any],
    notification_id: str,
    owner: str,
    *,
    status: Status,
    delay: float = 0.0,
    error: str | None = None,
) -> bool:
    """Record an attempt's outcome; False if this sender no longer held the notification."""
    params = {"id": notification_id, "owner": owner, "status": status}
    cur = await conn.execute(notifications_sql.RECORD, {**params, "delay": delay, "error": error})
    return await cur.fetchone() is not None


async def heartbeat(conn: AsyncConnection[Any], owner: str, ids: list[str], lease: float) -> None:
    await conn.execute(notifications_sql.HEARTBEAT, (lease, owner, ids))


async def reap_expired(conn: AsyncConnection[Any], max_attempts: int) -> list[dict[str, Any]]:
    cur = await conn.execute(notifications_sql.REAP_EXPIRED, {"max_attempts": max_attempts})
    return list(await cur.fetchall())


async def release(conn: AsyncConnection[Any], owner: str, ids: list[str]) -> None:
    await conn.execute(notifications_sql.RELEASE, (owner, ids))


async def of_request(conn: AsyncConnection[Any], request_id: str) -> list[Notification]:
    """The request's notifications, oldest first (none for an id that is not a request's)."""
    try:
        uuid.UUID(request_id)
    except ValueError:
        return []
    cur = await conn.execute(notifications_sql.OF_REQUEST, (request_id,))
    return [
        Notification.model_validate(
            {
                **row,
                "id": str(row["id"]),
                "request_id": str(row["request_id"]),
                "next_attempt_at": row["next_attempt_at"] if row["status"] == "pending" else None,
            }
        )
        for row in await cur.fetchall()
    ]
