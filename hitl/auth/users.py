"""Accounts: people with a role (admin, responder, viewer), groups, and a password."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.errors import CheckViolation
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, Field

from hitl import audit, errors
from hitl.auth import passwords, throttle
from hitl.auth.principal import ROLES
from hitl.db.sql import accounts as accounts_sql

USERNAME_RULE = "1-64 letters, digits, '_', '.', '@' or '-'"
GROUP_RULE = "1-64 letters, digits, '_', '.' or '-'"


class User(BaseModel):
    id: int
    username: str
    display_name: str = ""
    email: str | None = None
    role: str
    groups: list[str] = Field(default_factory=list)
    preferences: dict[str, Any] = Field(default_factory=dict)
    disabled_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


def _invalid(field: str, msg: str) -> errors.InvalidInput:
    return errors.InvalidInput([{"loc": ["body", field], "msg": msg, "type": "value_error"}])


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise _invalid("role", f"{role!r} is not a role; use one of {', '.join(ROLES)}")


async def create(
    conn: AsyncConnection[Any],
    username: str,
    *,
    role: str = "responder",
    password: str | None = None,
    email: str | None = None,
    display_name: str = "",
    actor: str,
) -> User:
    """Create an account; without a password, the person cannot sign in until one is set.
    Returns it as created (in no group yet)."""
    _check_role(role)
    if password is not None and (problem := passwords.problem(password)):
        raise _invalid("password", problem)
    if email is not None and "@" not in email:
        raise _invalid("email", f"{email!r} is not an email address")
    params = {
        "username": username,
        "display_name": display_name,
        "email": email,
        "password_hash": await passwords.hash_password(password) if password else None,
        "role": role,
        "actor": actor,
    }
    try:
        cur = await conn.execute(accounts_sql.CREATE_USER, params)
    except CheckViolation:
        raise _invalid("username", f"{username!r}: use {USERNAME_RULE}") from None
    row = await cur.fetchone()
    if row is None:
        raise errors.Conflict(f"user {username!r} already exists")
    return User.model_validate({**row, "groups": []})


async def get(conn: AsyncConnection[Any], username: str) -> User:
    cur = await conn.execute(accounts_sql.GET_USER, (username,))
    row = await cur.fetchone()
    if row is None:
        raise errors.NotFound(f"user {username!r} not found")
    return User.model_validate(row)


async def list_all(conn: AsyncConnection[Any]) -> list[User]:
    cur = await conn.execute(accounts_sql.LIST_USERS)
    return [User.model_validate(r) for r in await cur.fetchall()]


async def any_admin(conn: AsyncConnection[Any]) -> bool:
    cur = await conn.execute(accounts_sql.ANY_ADMIN)
    row = await cur.fetchone()
    return bool(row and row["present"])


async def set_disabled(
    conn: AsyncConnection[Any], username: str, disabled: bool, *, actor: str
) -> None:
    cur = await conn.execute(
        accounts_sql.SET_DISABLED, {"username": username, "disabled": disabled, "actor": actor}
    )
    if await cur.fetchone() is None:
        raise errors.NotFound(f"user {username!r} not found")


async def update(
    conn: AsyncConnection[Any],
    username: str,
    *,
    actor: str,
    role: str | None = None,
    email: str | None = None,
    set_email: bool = False,
    display_name: str | None = None,
) -> None:
    if role is not None:
        _check_role(role)
    if set_email and email is not None and "@" not in email:
        raise _invalid("email", f"{email!r} is not an email address")
    changes = {
        k: v for k, v in {"role": role, "display_name": display_name}.items() if v is not None
    } | ({"email": email} if set_email else {})
    cur = await conn.execute(
        accounts_sql.UPDATE_USER,
        {
            "username": username,
            "role": role,
            "email": email,
            "set_email": set_email,
            "display_name": display_name,
            "actor": actor,
            "changes": Jsonb(changes),
        },
    )
    if await cur.fetchone() is None:
        raise errors.NotFound(f"user {username!r} not found")


async def set_password(
    conn: AsyncConnection[Any],
    username: str,
    password: str,
    *,
    actor: str,
    keep_session: bytes | None = None,
) -> None:
    """Set a password; every other session of the person ends."""
    if problem := passwords.problem(password):
        raise _invalid("password", problem)
    params = {
        "username": username,
        "password_hash": await passwords.hash_password(password),
        "keep": keep_session,
        "actor": actor,
    }
    cur = await conn.execute(accounts_sql.SET_PASSWORD, params)
    if await cur.fetchone() is None:
        raise errors.NotFound(f"user {username!r} not found")


async def set_preferences(
    conn: AsyncConnection[Any], user_id: int, preferences: dict[str, Any]
) -> dict[str, Any]:
    cur = await conn.execute(
        accounts_sql.SET_PREFERENCES, {"user_id": user_id, "preferences": Jsonb(preferences)}
    )
    row = await cur.fetchone()
    if row is None:
        raise errors.NotFound("this account no longer exists")
    result: dict[str, Any] = row["preferences"]
    return result


async def add_to_group(
    conn: AsyncConnection[Any], username: str, group: str, *, actor: str
) -> None:
    params = {"username": username, "group": group, "actor": actor}
    try:
        cur = await conn.execute(accounts_sql.ADD_TO_GROUP, params)
    except CheckViolation:
        raise _invalid("group", f"{group!r}: use {GROUP_RULE}") from None
    row = await cur.fetchone()
    if not row or not row["user_exists"]:
        raise errors.NotFound(f"user {username!r} not found")


async def remove_from_group(
    conn: AsyncConnection[Any], username: str, group: str, *, actor: str
) -> None:
    cur = await conn.execute(
        accounts_sql.REMOVE_FROM_GROUP, {"username": username, "group": group, "actor": actor}
    )
    row = await cur.fetchone()
    if not row or not row["user_exists"]:
        raise errors.NotFound(f"user {username!r} not found")


async def authenticate(conn: AsyncConnection[Any], username: str, password: str) -> User | None:
    """The account if the password is right and it is enabled; None otherwise (the same time
    is spent either way)."""
    cur = await conn.execute(accounts_sql.GET_USER, (username,))
    return await _check_password(await cur.fetchone(), password)


async def _check_password(row: dict[str, Any] | None, password: str) -> User | None:
    stored = row["password_hash"] if row else None
    ok = await passwords.verify(stored, password)
    if not ok or row is None or row["disabled_at"] is not None:
        return None
    return User.model_validate(row)


async def sign_in(
    pool: AsyncConnectionPool[Any],
    username: str,
    password: str,
    *,
    limits: throttle.Limits,
    address: str | None,
    client: dict[str, Any],
) -> User | None:
    """The account if the password is right and it is enabled, else None; throttled.

    Raises `errors.SignInThrottled` before the password is hashed when the username or the
    address has failed too often (`hitl.auth.throttle`). No pool connection is held while
    the password is hashed. The audit log gets ``login.failed`` for the first failure of an
    existing account in a window (not one entry per guess, kept for a year) and
    ``login.throttled`` when a key starts being refused; the counts are in
    ``hitl_signin_failures``.
    """
    async with pool.connection() as conn:
        attempt = await throttle.count(conn, limits, username, address)
        if attempt.over(limits):
            for key in attempt.first_refused(limits):
                data = {**client, "window_seconds": limits.window_seconds}
                await audit.record(conn, "anonymous", "login.throttled", key, data)
            raise errors.SignInThrottled(attempt.retry_after(limits))
        cur = await conn.execute(accounts_sql.GET_USER, (username,))
        row = await cur.fetchone()
    user = await _check_password(row, password)
    async with pool.connection() as conn:
        if user is not None:
            await throttle.succeeded(conn, attempt)
        elif row is not None and attempt.counts[attempt.user_key] == 1:
            await audit.record(conn, "anonymous", "login.failed", f"user:{username}", client)
    return user


def generate_password() -> str:
    return secrets.token_urlsafe(15)  # 20 characters, 120 bits
