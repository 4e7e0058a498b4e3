"""Browser sessions: a random token in an HttpOnly cookie, its SHA-256 in ``hitl_sessions``,
and a CSRF token per session that every state-changing form and UI request must echo."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from hitl import audit
from hitl.auth import queries as q
from hitl.auth.principal import Principal, for_user
from hitl.auth.users import User

COOKIE = "hitl_session"


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def start(
    conn: AsyncConnection[Any], user: User, *, ttl_seconds: float, client: dict[str, Any]
) -> str:
    """A new session for ``user`` (its login audited); returns the cookie's token."""
    token = secrets.token_urlsafe(32)
    await conn.execute(
        q.CREATE_SESSION,
        {
            "token_hash": digest(token),
            "user_id": user.id,
            "csrf": secrets.token_urlsafe(24),
            "ttl": ttl_seconds,
            "username": user.username,
            "data": Jsonb(client),
        },
    )
    return token


async def resolve(
    conn: AsyncConnection[Any], token: str, *, ttl_seconds: float
) -> Principal | None:
    if not token or len(token) > 200:
        return None
    cur = await conn.execute(q.RESOLVE_SESSION, {"token_hash": digest(token), "ttl": ttl_seconds})
    row = await cur.fetchone()
    if row is None:
        return None
    return for_user(
        user_id=row["id"],
        username=row["username"],
        role=row["role"],
        groups=frozenset(row["groups"]),
        display_name=row["display_name"],
        csrf_token=row["csrf_token"],
    )


async def end(conn: AsyncConnection[Any], token: str) -> None:
    await conn.execute(q.DELETE_SESSION, {"token_hash": digest(token)})


async def record_failed_login(
    conn: AsyncConnection[Any], username: str, client: dict[str, Any]
) -> None:
    await audit.record(conn, "anonymous", "login.failed", f"user:{username[:64]}", client)


def csrf_ok(principal: Principal, sent: str | None) -> bool:
    """Whether a state-changing call carries the session's CSRF token. Calls with an API key
    carry no ambient credential, so they need none."""
    if principal.kind != "user" or principal.csrf_token is None:
        return True
    return bool(sent) and hmac.compare_digest(principal.csrf_token, sent or "")
