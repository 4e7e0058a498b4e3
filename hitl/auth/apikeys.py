"""API keys for agents and services: ``hitl_<id>_<secret>``, shown once, stored as SHA-256.

The ``hitl_<id>`` part is the key's prefix: stored in clear, it tells keys apart in lists, logs
and the audit log, and lets secret scanners recognise a leaked key."""

from __future__ import annotations

import hashlib
import secrets
import string
import time
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from pydantic import BaseModel

from hitl import errors
from hitl.auth.principal import ALL, SCOPES, Principal
from hitl.db.sql import accounts as accounts_sql

PREFIX = "hitl_"
_ID_ALPHABET = string.ascii_lowercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits
PREFIX_LENGTH = len(PREFIX) + 8


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
    """A new key, shown this once. Refused (`errors.InvalidInput` on ``name``) when an active
    key has that name: the name is who the key is on every answer and in the audit log."""
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
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))  # 238 bits
    key = f"{PREFIX}{key_id}_{secret}"
    async with conn.transaction():
        await conn.execute(accounts_sql.LOCK_KEY_NAME, (name,))
        cur = await conn.execute(
            accounts_sql.CREATE_KEY,
            {
                "name": name,
                "prefix": PREFIX + key_id,
                "key_hash": digest(key),
                "scopes": checked,
                "actor": actor,
            },
        )
        row = await cur.fetchone()
    if row is None:
        raise errors.InvalidInput(
            [
                {
                    "loc": ["body", "name"],
                    "msg": f"an active key is named {name!r} already: choose another name, "
                    "or revoke that key first",
                    "type": "value_error",
                }
            ]
        )
    return NewApiKey.model_validate({**row, "key": key})


async def list_all(conn: AsyncConnection[Any]) -> list[ApiKey]:
    cur = await conn.execute(accounts_sql.LIST_KEYS)
    return [ApiKey.model_validate(r) for r in await cur.fetchall()]


async def revoke(
    conn: AsyncConnection[Any], prefix: str, *, actor: str, cache: KeyCache | None = None
) -> ApiKey:
    """Revoke by prefix (``hitl_xxxxxxxx``); the whole key works too. ``cache`` (this process's)
    is emptied at once; other processes hear the revocation's NOTIFY."""
    prefix = prefix.strip()[:PREFIX_LENGTH]
    cur = await conn.execute(accounts_sql.REVOKE_KEY, {"prefix": prefix, "actor": actor})
    row = await cur.fetchone()
    if row is None:
        raise errors.NotFound(f"API key {prefix!r} not found")
    if cache is not None:
        cache.clear()
    return ApiKey.model_validate(row)


class KeyCache:
    """Keys resolved in the last ``ttl`` seconds, so that an agent's calls do not each cost a
    lookup. Emptied whenever any key is revoked (every process LISTENs on
    `hitl.pg_channels.KEYS_CHANNEL`, and empties it too when that connection was lost and is back);
    while the connection is down the caller does not use it (see `hitl.api.deps.identify`)."""

    def __init__(self, ttl: float = 30.0, size: int = 10_000) -> None:
        self._ttl = ttl
        self._size = size
        self._found: dict[bytes, tuple[Principal, float]] = {}

    def get(self, key_digest: bytes) -> Principal | None:
        hit = self._found.get(key_digest)
        if hit is None or hit[1] < time.monotonic():
            return None
        return hit[0]

    def put(self, key_digest: bytes, principal: Principal) -> None:
        if len(self._found) >= self._size:
            self._found.clear()
        self._found[key_digest] = (principal, time.monotonic() + self._ttl)

    def clear(self, _payload: str = "") -> None:
        self._found.clear()


async def resolve(
    conn: AsyncConnection[Any], key: str, cache: KeyCache | None = None
) -> Principal | None:
    """The principal of a key, or None for an unknown or revoked one."""
    if not key.startswith(PREFIX) or len(key) > 200:
        return None
    key_digest = digest(key)
    cur = await conn.execute(accounts_sql.RESOLVE_KEY, (key_digest,))
    row = await cur.fetchone()
    if row is None:
        return None
    principal = Principal(
        kind="key",
        name=f"key:{row['name']}",
        scopes=frozenset(row["scopes"]),
        display_name=row["name"],
        key_id=row["id"],
    )
    if cache is not None:
        cache.put(key_digest, principal)
    return principal
