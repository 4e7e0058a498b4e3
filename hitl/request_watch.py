"""Waiting for a request to be settled: answered, expired or withdrawn (``GET
/api/v1/requests/{id}/wait``), for agents outside the service that have no webhook receiver.

A `RequestWatch` listens on the ``hitl_requests`` notification (sent with the request's id by
every statement that settles a request: an answer, a deadline's expiry, a withdrawal) from the
moment it opens, so a settlement committed after it opened is not missed; it reads the request
again on its notification and every ``RECHECK_SECONDS`` (a notification lost with the
listening connection costs at most that). Like `hitl.thread_watch`, it holds no pool connection
while it waits: it borrows one for each read only, and the waits open at once are capped by
the same `hitl.thread_watch.Slots`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from psycopg_pool import AsyncConnectionPool

from hitl import pg_channels, requests
from hitl._aio import wait_event
from hitl.models import Request
from hitl.pg_listener import Notifier

RECHECK_SECONDS = 1.0


class RequestWatch:
    def __init__(self, pool: AsyncConnectionPool[Any], request_id: str) -> None:
        self.pool = pool
        self.request_id = request_id
        self.changed = asyncio.Event()

    def on_change(self, payload: str) -> None:
        if payload in ("", self.request_id):
            self.changed.set()

    async def read(self) -> Request:
        async with self.pool.connection() as conn:
            return await requests.get(conn, self.request_id)

    async def settled(self, timeout: float) -> Request:
        """The request once it is no longer pending, or as it is after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self.changed.clear()
            request = await self.read()
            remaining = deadline - loop.time()
            if request.state != "pending" or remaining <= 0:
                return request
            await wait_event(self.changed, min(remaining, RECHECK_SECONDS))


@contextlib.asynccontextmanager
async def watch(
    pool: AsyncConnectionPool[Any], notifier: Notifier, request_id: str
) -> AsyncIterator[RequestWatch]:
    found = RequestWatch(pool, request_id)
    notifier.add_listener(pg_channels.REQUESTS_CHANNEL, found.on_change)
    try:
        yield found
    finally:
        notifier.remove_listener(pg_channels.REQUESTS_CHANNEL, found.on_change)
