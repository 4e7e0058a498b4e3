"""People's notification preferences, kept in ``hitl_users.preferences`` (jsonb).

Only email can be turned off for now: ``{"email": false}`` keeps a user out of the recipients
the 0006 migration's trigger picks. Anything else in the column is left as it is. These are the
data functions; the routes that let people change their own (with the session of the user
they act for) belong with the account pages.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from pydantic import BaseModel

from hitl import errors

GET = "SELECT preferences FROM hitl_users WHERE username = %s"

# The change and its audit entry: one statement.
SET_EMAIL = """
WITH changed AS (
    UPDATE hitl_users
    SET preferences = preferences || jsonb_build_object('email', %(email)s::boolean),
        updated_at = now()
    WHERE username = %(username)s
    RETURNING username, preferences
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(actor)s, 'user.preferences', username, jsonb_build_object('email', %(email)s::boolean)
    FROM changed
)
SELECT preferences FROM changed
"""


class UserNotFound(errors.NotFound):
    def __init__(self, username: str) -> None:
        super().__init__(f"user {username!r} not found")


class NotificationPreferences(BaseModel):
    """What a person wants to be told, and how. Missing keys mean the default: on."""

    email: bool = True

    @classmethod
    def of(cls, stored: Any) -> NotificationPreferences:
        stored = stored if isinstance(stored, dict) else {}
        # Read as the trigger does: only an explicit false turns email off.
        return cls(email=stored.get("email") not in (False, "false"))


async def get(conn: AsyncConnection[Any], username: str) -> NotificationPreferences:
    cur = await conn.execute(GET, (username,))
    row = await cur.fetchone()
    if row is None:
        raise UserNotFound(username)
    return NotificationPreferences.of(row["preferences"])


async def set_email(
    conn: AsyncConnection[Any], username: str, enabled: bool, *, actor: str
) -> NotificationPreferences:
    """Turn ``username``'s email notifications on or off (audited as ``actor``)."""
    cur = await conn.execute(SET_EMAIL, {"username": username, "email": enabled, "actor": actor})
    row = await cur.fetchone()
    if row is None:
        raise UserNotFound(username)
    return NotificationPreferences.of(row["preferences"])
