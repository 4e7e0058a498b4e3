"""``Idempotency-Key`` for POSTs that change state: the first response is kept and replayed.

The same key with the same body gets the first response again (status and body, with
``Idempotent-Replayed: true``); with a different body, 422; while the first is still being
processed, 409. Keys are kept ``KEEP_SECONDS`` (24 h).

A key belongs to a ``scope``: the caller's `Principal.subject` (``user:<id>``, ``key:<id>``)
and the operation. Never the principal's name: two API keys may share one, and a replay
hands the stored response (which may hold what only its caller may see) to whoever sends
the key again.

The key's record is completed in the same transaction as the state change it answers for, so
a crash can never leave a change without its stored response (which would make a retry do it
twice). A key whose holder died before completing it is free again after ``LOCK_SECONDS``.
Answers that changed nothing (4xx) are stored too, after the rolled-back transaction; server
errors release the key so that the client can try again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from hitl import errors
from hitl.db.sql import idempotency as idempotency_sql

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEEP_SECONDS = 86400.0
LOCK_SECONDS = 60.0
MAX_KEY_LENGTH = 255


@dataclass
class Outcome:
    """A response to keep: status, JSON body, headers."""

    status_code: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


Operation = Callable[[AsyncConnection[Any]], Awaitable[Outcome]]


class KeyInFlight(errors.Conflict):
    def __init__(self, key: str) -> None:
        super().__init__(
            {
                "msg": f"a request with {HEADER} {key!r} is still being processed; retry later",
                "loc": ["header", HEADER],
            }
        )


def _loc_error(msg: str, kind: str) -> errors.InvalidInput:
    return errors.InvalidInput([{"loc": ["header", HEADER], "msg": msg, "type": kind}])


def fingerprint(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def execute(
    pool: AsyncConnectionPool[Any], *, scope: str, key: str, body: Any, operation: Operation
) -> Outcome:
    """Run ``operation`` (in a transaction) once per (scope, key); replay its outcome after.
    ``scope`` starts with the caller's `Principal.subject`, so callers never share keys."""
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise _loc_error(
            f"must be 1 to {MAX_KEY_LENGTH} printable characters", "idempotency_key_invalid"
        )
    print_ = fingerprint(body)
    params = {
        "scope": scope,
        "key": key,
        "fingerprint": print_,
        "lock": LOCK_SECONDS,
        "keep": KEEP_SECONDS,
    }
    async with pool.connection() as conn:
        for _ in range(3):  # the row may vanish (released, purged) between our two statements
            cur = await conn.execute(idempotency_sql.CLAIM_IDEMPOTENCY_KEY, params)
            if await cur.fetchone():
                return await _first(conn, scope, key, operation)
            cur = await conn.execute(idempotency_sql.GET_IDEMPOTENCY_KEY, (scope, key))
            row = await cur.fetchone()
            if row is None:
                continue
            if row["fingerprint"] != print_:
                raise _loc_error(
                    "this key was already used with a different request body",
                    "idempotency_key_reused",
                )
            if row["status_code"] is None:
                raise KeyInFlight(key)
            headers = {**(row["headers"] or {}), REPLAYED_HEADER: "true"}
            return Outcome(row["status_code"], row["body"], headers)
    raise KeyInFlight(key)


async def _first(conn: AsyncConnection[Any], scope: str, key: str, operation: Operation) -> Outcome:
    try:
        async with conn.transaction():
            outcome = await operation(conn)
            await _complete(conn, scope, key, outcome)
        return outcome
    except errors.HITLError as exc:
        if exc.status_code < 500:  # nothing changed; the same answer is due next time too
            await _complete(conn, scope, key, Outcome(exc.status_code, {"detail": exc.detail}))
        else:
            await _release(conn, scope, key)
        raise
    except BaseException:
        await _release(conn, scope, key)
        raise


async def _release(conn: AsyncConnection[Any], scope: str, key: str) -> None:
    with contextlib.suppress(Exception):  # if even this fails, the lock lapses on its own
        await conn.execute(idempotency_sql.RELEASE_IDEMPOTENCY_KEY, (scope, key))


async def _complete(conn: AsyncConnection[Any], scope: str, key: str, outcome: Outcome) -> None:
    await conn.execute(
        idempotency_sql.COMPLETE_IDEMPOTENCY_KEY,
        {
            "scope": scope,
            "key": key,
            "status": outcome.status_code,
            "body": Jsonb(outcome.body),
            "headers": Jsonb(outcome.headers),
        },
    )


async def purge_expired(conn: AsyncConnection[Any], batch: int = 1000) -> int:
    cur = await conn.execute(idempotency_sql.DELETE_EXPIRED_IDEMPOTENCY_KEYS, (batch,))
    return cur.rowcount
