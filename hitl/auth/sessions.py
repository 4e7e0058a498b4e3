"""Browser sessions: a random token in an HttpOnly cookie, its SHA-256 in ``hitl_sessions``,
and a CSRF token per session that every state-changing form and UI request must echo.

A session ends when unused for ``HITL_SESSION_TTL_SECONDS`` (use slides it on) and in any case
``HITL_SESSION_MAX_AGE_SECONDS`` after sign-in, so a stolen cookie that is kept busy does not
live for ever. Over HTTPS the cookie is ``__Host-hitl_session``: browsers then insist on
``Secure``, ``Path=/`` and no ``Domain``, so no sibling host or plain-http page can plant or
overwrite it; on plain http (the first run on 127.0.0.1) it is ``hitl_session``. Each kind of
request reads only its own name.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from hitl.auth.principal import Principal, for_user
from hitl.auth.users import User
from hitl.config import Settings
from hitl.db.sql import accounts as accounts_sql

COOKIE = "hitl_session"
SECURE_COOKIE = "__Host-" + COOKIE


def secure(settings: Settings, scheme: str) -> bool:
    """Whether a request that came over ``scheme`` gets (and sends) the Secure cookie.
    ``scheme`` is the one the client used: behind a trusted proxy, its X-Forwarded-Proto."""
    mode = settings.secure_cookies
    if mode != "auto":
        return mode == "always"
    public = settings.public_url or ""
    return scheme == "https" or public.startswith("https://")


def cookie_name(secure: bool) -> str:
    return SECURE_COOKIE if secure else COOKIE


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def start(
    conn: AsyncConnection[Any],
    user: User,
    *,
    ttl_seconds: float,
    max_age_seconds: float,
    client: dict[str, Any],
) -> str:
    """A new session for ``user`` (its login audited); returns the cookie's token."""
    token = secrets.token_urlsafe(32)
    await conn.execute(
        accounts_sql.CREATE_SESSION,
        {
            "token_hash": digest(token),
            "user_id": user.id,
            "csrf": secrets.token_urlsafe(24),
            "ttl": ttl_seconds,
            "max_age": max_age_seconds,
            "username": user.username,
            "data": Jsonb(client),
        },
    )
    return token


async def resolve(
    conn: AsyncConnection[Any], token: str, *, ttl_seconds: float, max_age_seconds: float
) -> Principal | None:
    """The person of a live session (extended if in use), None for an ended or unknown one."""
    if not token or len(token) > 200:
        return None
    params = {"token_hash": digest(token), "ttl": ttl_seconds, "max_age": max_age_seconds}
    cur = await conn.execute(accounts_sql.RESOLVE_SESSION, params)
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
    await conn.execute(accounts_sql.DELETE_SESSION, {"token_hash": digest(token)})


def csrf_ok(principal: Principal, sent: str | None) -> bool:
    """Whether a state-changing call carries the session's CSRF token. Calls with an API key
    carry no ambient credential, so they need none."""
    if principal.kind != "user" or principal.csrf_token is None:
        return True
    return bool(sent) and hmac.compare_digest(principal.csrf_token, sent or "")
