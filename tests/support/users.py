"""People in the database for tests, written with plain SQL (the identity schema of 0004)."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

ADD_USER = """
INSERT INTO hitl_users (username, email, role, preferences, disabled_at)
VALUES (%(username)s, %(email)s, %(role)s, %(preferences)s,
        CASE WHEN %(disabled)s THEN now() END)
RETURNING id
"""

ADD_GROUP = "INSERT INTO hitl_groups (name) VALUES (%s) ON CONFLICT DO NOTHING"

ADD_MEMBER = "INSERT INTO hitl_group_members (group_name, user_id) VALUES (%s, %s)"


async def add_user(
    pool: AsyncConnectionPool[Any],
    username: str,
    *,
    email: str | None = "",
    role: str = "responder",
    preferences: dict[str, Any] | None = None,
    disabled: bool = False,
    groups: tuple[str, ...] = (),
) -> str:
    """Add a user (``email=""``: ``<username>@example.com``); return the address."""
    address = f"{username}@example.com" if email == "" else email
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            ADD_USER,
            {
                "username": username,
                "email": address,
                "role": role,
                "preferences": Jsonb(preferences or {}),
                "disabled": disabled,
            },
        )
        row = await cur.fetchone()
        assert row is not None
        for group in groups:
            await conn.execute(ADD_GROUP, (group,))
            await conn.execute(ADD_MEMBER, (group, row["id"]))
    return address or ""
