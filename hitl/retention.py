"""Retention: delete what has aged out, in small batches, never what is still live.

What goes (each age a setting; 0 keeps it forever):

- **threads** ``completed`` or ``failed`` (and not queued again) for ``retention_threads_seconds``,
  with LangGraph's checkpoints, blobs and writes of those thread ids; their runs and requests go
  with them (foreign keys ``ON DELETE CASCADE``), deliveries keep a NULL ``request_id``;
- **requests** that are settled (answered and applied, superseded, expired, cancelled; an
  external request answered) for ``retention_requests_seconds``, on threads still alive;
- **runs** that finished (``done`` or ``failed``) for ``retention_runs_seconds``, on threads still
  alive (queued, running, interrupted: a long-lived thread collects one run per answer). Never
  a queued or running run, and never one that a pending or answered-but-unapplied request
  still references: such a request's ``run_id`` is what a retried run compares with its own id
  to tell the answers it applied itself (``previous_run_id``). Settled requests keep a NULL
  ``run_id`` (``ON DELETE SET NULL``), which nothing reads;
- **events** already relayed to the bus, for ``retention_events_seconds``;
- **webhook deliveries** that succeeded or failed for good (their attempts cascade), and
  **notifications** sent or failed for good, for ``retention_deliveries_seconds``;
- **audit** entries for ``retention_audit_seconds`` (kept longest by default);
- **failed sign-in counts** whose window (``signin_window_seconds``) has ended: they throttle
  nothing any more (`hitl.auth.throttle`).

Pending requests are never deleted, and neither are interrupted, queued or running threads,
nor queued or running runs.
Idempotency keys are purged by the housekeeping loop (`hitl.idempotency`).

Every batch is one statement (its own transaction, as the pool's connections autocommit) that
deletes at most ``retention_batch_size`` driving rows picked with ``FOR UPDATE SKIP LOCKED``:
short locks, nothing waits on a row somebody else holds.

``checkpoint_history_keep`` > 0 also trims the checkpoint history of threads at rest to their
last N checkpoints per namespace, keeping what the kept checkpoints use (the blobs of their
channel versions, their pending writes), so the thread stays resumable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from hitl.config import Settings
from hitl.db.sql import retention as retention_sql

log = logging.getLogger("hitl.retention")

# -- the job ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Kind:
    """One kind of thing that ages out: its age setting, its statements, its driving table."""

    name: str
    age_setting: str
    prune: str
    count: str
    driver: str  # the column whose count decides whether a batch was full


_KINDS = (
    _Kind(
        "threads",
        "retention_threads_seconds",
        retention_sql.PRUNE_THREADS,
        retention_sql.COUNT_THREADS,
        "hitl_threads",
    ),
    _Kind(
        "requests",
        "retention_requests_seconds",
        retention_sql.PRUNE_REQUESTS,
        retention_sql.COUNT_REQUESTS,
        "hitl_requests",
    ),
    _Kind(
        "runs",
        "retention_runs_seconds",
        retention_sql.PRUNE_RUNS,
        retention_sql.COUNT_RUNS,
        "hitl_runs",
    ),
    _Kind(
        "events",
        "retention_events_seconds",
        retention_sql.PRUNE_EVENTS,
        retention_sql.COUNT_EVENTS,
        "hitl_events",
    ),
    _Kind(
        "deliveries",
        "retention_deliveries_seconds",
        retention_sql.PRUNE_DELIVERIES,
        retention_sql.COUNT_DELIVERIES,
        "hitl_webhook_deliveries",
    ),
    _Kind(
        "notifications",
        "retention_deliveries_seconds",
        retention_sql.PRUNE_NOTIFICATIONS,
        retention_sql.COUNT_NOTIFICATIONS,
        "hitl_notifications",
    ),
    _Kind(
        "audit",
        "retention_audit_seconds",
        retention_sql.PRUNE_AUDIT,
        retention_sql.COUNT_AUDIT,
        "hitl_audit",
    ),
    _Kind(
        "sign-in failures",
        "signin_window_seconds",
        retention_sql.PRUNE_SIGNIN_FAILURES,
        retention_sql.COUNT_SIGNIN_FAILURES,
        "hitl_signin_failures",
    ),
)

# The report's tables, in the order `hitl prune` prints them.
TABLES = (
    "hitl_threads",
    "hitl_runs",
    "hitl_requests",
    "checkpoints",
    "checkpoint_blobs",
    "checkpoint_writes",
    "hitl_events",
    "hitl_webhook_deliveries",
    "hitl_webhook_attempts",
    "hitl_notifications",
    "hitl_audit",
    "hitl_signin_failures",
)


@dataclass
class Pruned:
    """Rows deleted (or, for a dry run, that would be) per table."""

    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    dry_run: bool = False

    def add(self, counts: dict[str, Any]) -> None:
        for table, n in counts.items():
            if table in self.rows:
                self.rows[table] += int(n)

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    def summary(self) -> str:
        found = ", ".join(f"{t} {n}" for t, n in self.rows.items() if n) or "nothing"
        return f"{'would prune' if self.dry_run else 'pruned'}: {found}"


async def prune(
    pool: AsyncConnectionPool[Any],
    settings: Settings,
    *,
    dry_run: bool = False,
    stopping: asyncio.Event | None = None,
    on_batch: Callable[[dict[str, int]], None] | None = None,
) -> Pruned:
    """Delete what has aged out under ``settings``, batch by batch; or count it (``dry_run``).

    ``stopping`` ends the work between two batches; ``on_batch`` sees each batch's counts (for
    metrics) as it commits.
    """
    report = Pruned(dry_run=dry_run)
    batch = settings.retention_batch_size
    for kind in _KINDS:
        age = float(getattr(settings, kind.age_setting))
        if age <= 0:
            continue
        params = {"age": age, "thread_age": settings.retention_threads_seconds, "limit": batch}
        if dry_run:
            async with pool.connection() as conn:
                report.add(await _one(conn, kind.count, params))
            continue
        while not (stopping and stopping.is_set()):
            async with pool.connection() as conn:
                counts = await _one(conn, kind.prune, params)
            report.add(counts)
            if on_batch and any(counts.values()):
                on_batch({t: int(n) for t, n in counts.items()})
            if int(counts[kind.driver]) < batch:
                break
            await asyncio.sleep(0)  # let the loop breathe between batches
    if settings.checkpoint_history_keep > 0:
        await _trim(pool, settings, report, stopping, on_batch)
    return report


async def _trim(
    pool: AsyncConnectionPool[Any],
    settings: Settings,
    report: Pruned,
    stopping: asyncio.Event | None,
    on_batch: Callable[[dict[str, int]], None] | None,
) -> None:
    # Threads, not checkpoints, are batched here: a thread's history goes in one statement.
    params = {"keep": settings.checkpoint_history_keep, "limit": settings.retention_batch_size}
    if report.dry_run:
        async with pool.connection() as conn:
            counts = await _one(conn, retention_sql.COUNT_TRIMMABLE_CHECKPOINTS, params)
        report.add({"checkpoints": counts["checkpoints"]})
        return
    while not (stopping and stopping.is_set()):
        async with pool.connection() as conn:
            counts = await _one(conn, retention_sql.TRIM_CHECKPOINTS, params)
        threads = int(counts.pop("threads"))
        report.add(counts)
        if on_batch and any(counts.values()):
            on_batch({t: int(n) for t, n in counts.items()})
        if threads < settings.retention_batch_size or not any(counts.values()):
            break
        await asyncio.sleep(0)


async def _one(conn: AsyncConnection[Any], sql: str, params: dict[str, Any]) -> dict[str, Any]:
    cur = await conn.execute(sql, params)
    row = await cur.fetchone()
    return dict(row) if row else {}
