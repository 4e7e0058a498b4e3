"""Worker heartbeats: which service processes are alive, idle ones included.

Every process that runs the service (`hitl serve`, `hitl worker`, an in-process `Service`) has a
row in ``hitl_workers`` under its worker id, which is also the lease owner of the runs and
webhook deliveries it holds. The service's heartbeat loop upserts the row every
``worker_heartbeat_seconds`` and forgets rows silent for `FORGET_SECONDS`; a clean stop marks
the row ``stopped``. The Status page lists the processes seen in the last `WINDOW_SECONDS`:
``alive``, ``stale`` (three heartbeats missed: it died, hangs, or lost Postgres) or
``stopped``. Heartbeats are not leases: nothing is taken over because one is missed (leases on
runs and deliveries do that), so a slow heartbeat only shows, it decides nothing.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from typing import Any, Literal

from psycopg import AsyncConnection
from pydantic import BaseModel

from hitl.db.sql import workers as workers_sql

WINDOW_SECONDS = 60
FORGET_SECONDS = 86400
STALE_BEATS = 3

Kind = Literal["serve", "worker"]


def worker_name() -> str:
    """A process's worker id: ``host:pid:random`` (the random part tells apart a reused pid)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def version() -> str:
    try:
        return metadata.version("hitl-langgraph")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


@dataclass(frozen=True)
class Identity:
    """Who a process is, as its heartbeat row says."""

    id: str
    kind: Kind
    host: str
    pid: int
    version: str
    # api, runner, timers, webhook_delivery, event_relay, retention, notifications
    work: tuple[str, ...]

    @classmethod
    def here(cls, kind: Kind, work: tuple[str, ...], worker_id: str | None = None) -> Identity:
        return cls(
            id=worker_id or worker_name(),
            kind=kind,
            host=socket.gethostname(),
            pid=os.getpid(),
            version=version(),
            work=work,
        )


class Worker(BaseModel):
    """A process seen in the last minute. ``kind`` and the rest are None for a process known
    only as the lease owner of running runs (one from before heartbeats existed)."""

    name: str
    kind: Kind | None
    host: str | None
    pid: int | None
    version: str | None
    work: list[str]
    started_at: datetime | None
    last_heartbeat: datetime
    stopped_at: datetime | None
    state: Literal["alive", "stale", "stopped"]
    runs: int


async def beat(conn: AsyncConnection[Any], me: Identity) -> int:
    """Register or renew ``me``; return how many long-silent rows were forgotten with it."""
    cur = await conn.execute(
        workers_sql.BEAT_WORKER,
        {
            "id": me.id,
            "kind": me.kind,
            "host": me.host,
            "pid": me.pid,
            "version": me.version,
            "work": list(me.work),
            "forget": FORGET_SECONDS,
        },
    )
    row = await cur.fetchone()
    return int(row["forgotten"]) if row else 0


async def stopped(conn: AsyncConnection[Any], worker_id: str) -> None:
    """A clean stop: the row stays, marked, until it leaves the window and is forgotten."""
    await conn.execute(workers_sql.STOP_WORKER, (worker_id,))


async def recent(
    conn: AsyncConnection[Any], *, heartbeat_seconds: float, lease_seconds: float
) -> list[Worker]:
    """The processes seen in the last `WINDOW_SECONDS`, by name."""
    cur = await conn.execute(
        workers_sql.RECENT_WORKERS,
        {
            "window": WINDOW_SECONDS,
            "stale": heartbeat_seconds * STALE_BEATS,
            "lease": lease_seconds,
        },
    )
    return [Worker.model_validate(row) for row in await cur.fetchall()]
