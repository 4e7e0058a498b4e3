"""API keys for agents and services: ``hitl_<id>_<secret>``, shown once, stored as SHA-256.

The ``hitl_<id>`` part is the key's prefix: stored in clear, it tells keys apart in lists, logs
and the audit log, and lets secret scanners recognise a leaked key."""

from __future__ import annotations

import hashlib
import secrets
import string
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from pydantic import BaseModel

from hitl import errors
from hitl.auth import queries as q
from hitl.auth.principal import ALL, SCOPES, Principal

PREFIX = "hitl_"
_ID_ALPHABET = string.ascii_lowercase + string.digits


class ApiKey(BaseModel):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_by: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class NewApiKey(ApiKey):
    key: str
    """The key itself: shown this once, never again."""


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def parse_scopes(raw: list[str] | str) -> list[str]:
    """Scopes from a list or a comma/space separated string; ``*`` is every scope."""
    items = raw.replace(",", " ").split() if isinstance(raw, str) else raw
    scopes = sorted({s.strip() for s in items if s.strip()})
    unknown = [s for s in scopes if s != ALL and s not in SCOPES]
    if unknown or not scopes:
        known = ", ".join([ALL, *SCOPES])
        msg = f"unknown scope {unknown[0]!r}" if unknown else "name at least one scope"
        raise errors.InvalidInput(
            [{"loc": ["body", "scopes"], "msg": f"{msg}; use {known}", "type": "value_error"}]
        )
    return [ALL] if ALL in scopes else scopes


async def create(
    conn: AsyncConnection[Any], name: str, scopes: list[str] | str, *, actor: str
) -> NewApiKey:
    name = name.strip()
    if not name or len(name) > 100:
        raise errors.InvalidInput(
            [
                {
                    "loc": ["body", "name"],
                    "msg": "give the key a name of 1-100 characters",
                    "type": "value_error",
                }
            ]
        )
    checked = parse_scopes(scopes)
    key_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))
    key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(30)}"
    cur = await conn.execute(
        q.CREATE_KEY,
        {
            "name": name,
            "prefix": PREFIX + key_id,
            "key_hash": digest(key),
            "scopes": checked,
            "actor": actor,
        },
    )
    row = await cur.fetchone()
    assert row is not None
    return NewApiKey.model_validate({**row, "key": key})


async def list_all(conn: AsyncConnection[Any]) -> list[ApiKey]:
    cur = await conn.execute(q.LIST_KEYS)
    return [ApiKey.model_validate(r) for r in await cur.fetchall()]


async def revoke(conn: AsyncConnection[Any], prefix: str, *, actor: str) -> ApiKey:
    cur = await conn.execute(q.REVOKE_KEY, {"prefix": prefix, "actor": actor})
    row = await cur.fetchone()
    if row is None:
        raise errors.NotFound(f"API key {prefix!r} not found")
    return ApiKey.model_validate(row)


async def resolve(conn: AsyncConnection[Any], key: str) -> Principal | None:
    """The principal of a key, or None for an unknown or revoked one."""
    if not key.startswith(PREFIX) or len(key) > 200:
        return None
    cur = await conn.execute(q.RESOLVE_KEY, (digest(key),))
    row = await cur.fetchone()
    if row is None:
        return None
    return Principal(
        kind="key",
        name=f"key:{row['name']}",
        scopes=frozenset(row["scopes"]),
        key_id=row["id"],
        display_name=row["name"],
    )
