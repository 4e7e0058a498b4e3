"""The audit log: an append-only record of who did what, when.

State changes write their entry in the same statement or transaction as the change (most
statements in hitl/db/sql/ carry an ``audit`` CTE); `record`
is for the few that are not one statement. Nothing updates or deletes entries except the
retention job, which keeps them longest (``HITL_RETENTION_AUDIT_SECONDS``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field

from hitl import _cursor
from hitl.db.sql import audit as audit_sql
from hitl.models import Page


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    data: dict[str, Any] = Field(default_factory=dict)


async def record(
    conn: AsyncConnection[Any],
    actor: str,
    action: str,
    subject: str,
    data: dict[str, Any] | None = None,
) -> None:
    await conn.execute(audit_sql.RECORD, (actor, action, subject, Jsonb(data or {})))


async def list_page(
    conn: AsyncConnection[Any],
    *,
    actor: str | None = None,
    subject: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[AuditEntry]:
    """Entries newest first. ``subject`` is what the entry is about, as recorded: a request's
    or thread's id, ``user:<name>``, ``apikey:<prefix>``, ``webhook:<id>``..."""
    after_id = None
    if cursor:
        _, key = _cursor.decode(cursor)
        after_id = int(key) if key.isascii() and key.isdigit() and len(key) < 19 else 0
    cur = await conn.execute(
        audit_sql.LIST,
        {
            "actor": actor,
            "subject": subject,
            "action": action,
            "since": since,
            "until": until,
            "after_id": after_id,
            "limit": limit + 1,
        },
    )
    rows = await cur.fetchall()
    items = [AuditEntry.model_validate(r) for r in rows[:limit]]
    next_cursor = _cursor.encode(items[-1].at, str(items[-1].id)) if len(rows) > limit else None
    return Page[AuditEntry](items=items, next_cursor=next_cursor)
