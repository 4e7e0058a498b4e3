"""People in the database for tests, made with the account functions (`hitl.auth.users`)."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from hitl.auth import users


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
    """Add an account without a password (``email=""``: ``<username>@example.com``); return
    its address."""
    address = f"{username}@example.com" if email == "" else email
    async with pool.connection() as conn, conn.transaction():
        user = await users.create(conn, username, role=role, email=address, actor="tests")
        for group in groups:
            await users.add_to_group(conn, username, group, actor="tests")
        if preferences:
            await users.set_preferences(conn, user.id, preferences)
        if disabled:
            await users.set_disabled(conn, username, True, actor="tests")
    return address or ""
