"""Which requests an agent created: its webhook receiver resumes a workflow only for those.

A callback is signed with the agent's endpoint secret, so a valid signature proves that the
service sent it, not that the agent asked the question: the service signs whatever it sends to
the endpoint. The service lets only the endpoint's owner name it as a callback, and the receiver
checks again on its side (`hitl.sdk.receiver.WebhookReceiver`): the callback's ``request_id``
must be one this agent created, for the ``workflow_id`` it names. So an answer the agent did
not ask for (a misconfigured share, a key with too much power) never resumes its workflows.

Record each request as it is created: `hitl.sdk.HITLClient` does it when given a store
(``HITLClient(url, created=store)``), and `hitl.agents.Agent.create_request` records into the
agent's Redis. A crash between the creation and the record loses the record; creating the
request with an ``Idempotency-Key`` (the same one on retry) replays the same request id, which
is then recorded. A callback that arrives before its record (a deadline of a second) is
refused with 403 and delivered again later by the service, on its retry schedule.

Stores: `SQLiteCreatedRequests` (one file, for a single host; the default choice) and
`RedisCreatedRequests` (shared by every process of an agent). Records are kept ``keep_seconds``
(400 days: longer than the longest deadline) and then forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Any, Protocol

from hitl.sdk import _sqlite

KEEP_SECONDS = 400 * 86400.0


class CreatedRequests(Protocol):
    """Remembers, durably, the requests this agent created and the workflow each is for."""

    async def add(self, request_id: str, workflow_id: str) -> None:
        """Record ``request_id`` as created by this agent for ``workflow_id``."""

    async def workflow_of(self, request_id: str) -> str | None:
        """The workflow ``request_id`` was created for, or None if this agent did not create
        it (or forgot it)."""


class SyncCreatedRequests(Protocol):
    """The same record for blocking code (`hitl.sdk.SyncHITLClient`)."""

    def record(self, request_id: str, workflow_id: str) -> None: ...


class SQLiteCreatedRequests:
    """A `CreatedRequests` in one SQLite file (it may be the file of a `SQLiteDedupeStore`).
    `record` and `workflow` are the same calls for synchronous code."""

    def __init__(self, path: str | Path, *, keep_seconds: float = KEEP_SECONDS) -> None:
        self.path = str(path)
        self.keep_seconds = keep_seconds
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS created_requests ("
                " id TEXT PRIMARY KEY, workflow_id TEXT NOT NULL, at REAL NOT NULL)"
            )
            db.execute("CREATE INDEX IF NOT EXISTS created_requests_at ON created_requests (at)")

    def _connect(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return _sqlite.connect(self.path)

    def record(self, request_id: str, workflow_id: str) -> None:
        now = time.time()
        with self._connect() as db:
            db.execute("DELETE FROM created_requests WHERE at < ?", (now - self.keep_seconds,))
            db.execute(
                "INSERT OR REPLACE INTO created_requests (id, workflow_id, at) VALUES (?, ?, ?)",
                (request_id, workflow_id, now),
            )

    def workflow(self, request_id: str) -> str | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT workflow_id FROM created_requests WHERE id = ? AND at >= ?",
                (request_id, time.time() - self.keep_seconds),
            ).fetchone()
        return str(row[0]) if row else None

    async def add(self, request_id: str, workflow_id: str) -> None:
        await asyncio.to_thread(self.record, request_id, workflow_id)

    async def workflow_of(self, request_id: str) -> str | None:
        return await asyncio.to_thread(self.workflow, request_id)


class RedisCreatedRequests:
    """A `CreatedRequests` in Redis: a key per request, ``{prefix}{request_id}`` holding the
    workflow id, expiring after ``keep_seconds``. ``redis`` is a ``redis.asyncio.Redis``."""

    def __init__(self, redis: Any, prefix: str, *, keep_seconds: float = KEEP_SECONDS) -> None:
        self.redis = redis
        self.prefix = prefix
        self.keep_seconds = keep_seconds

    async def add(self, request_id: str, workflow_id: str) -> None:
        await self.redis.set(self.prefix + request_id, workflow_id, ex=int(self.keep_seconds))

    async def workflow_of(self, request_id: str) -> str | None:
        found = await self.redis.get(self.prefix + request_id)
        if found is None:
            return None
        return found.decode() if isinstance(found, bytes) else str(found)
