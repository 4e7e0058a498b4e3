"""Ordered SQL migrations recorded in ``hitl_schema_version``, plus LangGraph's own tables.

Files in ``migrations/`` are named ``NNNN_name.sql`` and applied in order, each in its own
transaction, under an advisory lock so that replicas starting together migrate once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources
from typing import Any

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger("hitl.migrate")

_LOCK_KEY = 0x6869746C  # "hitl"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    found = []
    for entry in resources.files("hitl.db").joinpath("migrations").iterdir():
        if entry.name.endswith(".sql"):
            number, _, rest = entry.name.partition("_")
            found.append(Migration(int(number), rest.removesuffix(".sql"), entry.read_text()))
    return sorted(found, key=lambda m: m.version)


async def applied_versions(conn: AsyncConnection[Any]) -> set[int]:
    cur = await conn.execute("SELECT to_regclass('hitl_schema_version') IS NOT NULL AS present")
    row = await cur.fetchone()
    if not row or not _get(row, "present"):
        return set()
    cur = await conn.execute("SELECT version FROM hitl_schema_version")
    return {_get(r, "version") for r in await cur.fetchall()}


async def pending(conn: AsyncConnection[Any]) -> list[Migration]:
    done = await applied_versions(conn)
    return [m for m in migrations() if m.version not in done]


async def migrate(pool: AsyncConnectionPool[Any]) -> list[Migration]:
    """Apply what is missing; return the migrations applied now."""
    applied: list[Migration] = []
    async with pool.connection() as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS hitl_schema_version ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            for migration in await pending(conn):
                async with conn.transaction():
                    await conn.execute(migration.sql.encode(), prepare=False)
                    await conn.execute(
                        "INSERT INTO hitl_schema_version (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
                log.info("applied migration %04d_%s", migration.version, migration.name)
                applied.append(migration)
            await AsyncPostgresSaver(conn).setup()
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied


async def is_current(pool: AsyncConnectionPool[Any]) -> bool:
    async with pool.connection() as conn:
        return not await pending(conn)


def _get(row: Any, key: str) -> Any:
    return row[key] if isinstance(row, dict) else row[0]
