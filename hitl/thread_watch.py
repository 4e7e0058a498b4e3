"""Waiting for a thread to come to rest (interrupted, completed or failed).

A `ThreadWatch` listens from the moment it opens: a caller that opens one before it writes
(``POST /threads?wait=``) cannot miss the run that its write queued, however fast that run is.
Two sources say when to look again:

- the ``hitl_threads`` notification, sent by every process that changes a thread; then the
  thread is read;
- the runner of this process, which hands the thread over as it recorded it (no read needed).
  A handoff is taken if it is no older than what was last seen, by the thread's ``version``
  (one more with every change, in commit order): one recorded before an answer that came
  since is not the thread's state any more. (Not by ``updated_at``: an answer that waited for a
  run's record to commit can leave an earlier timestamp than that record's.)

A watch holds no pool connection while it waits: it borrows one for each read only. Each open
watch still reads on its thread's notifications and every ``RECHECK_SECONDS``, so the waits
(and the UI's live-update streams) open at once in a process are capped (`Slots`,
``HITL_MAX_WAITERS``): a flood of waiters cannot crowd the pool that answers need.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from psycopg_pool import AsyncConnectionPool

from hitl import pg_channels, threads
from hitl._aio import wait_event
from hitl.models import ThreadWithValues
from hitl.pg_listener import Notifier

SETTLED = ("interrupted", "completed", "failed")
# The longest a watch sleeps without reading the thread again: a notification lost with the
# listening connection costs at most this much.
RECHECK_SECONDS = 1.0

Found = tuple[ThreadWithValues, list[dict[str, Any]]]


class Waiters:
    """Callbacks of this process waiting for threads, by thread id; each gets every committed
    record of its thread (the thread row with its ``pending`` requests, and the ``run`` it
    ended: its ``thread_id``, ``public_id``, ``status`` and ``error``, as JSON)."""

    def __init__(self) -> None:
        self._by_thread: dict[str, list[Callable[[dict[str, Any]], None]]] = {}
        self.recording: set[str] = set()  # threads whose record is being written here

    def add(self, thread_id: str, callback: Callable[[dict[str, Any]], None]) -> None:
        self._by_thread.setdefault(thread_id, []).append(callback)

    def remove(self, thread_id: str, callback: Callable[[dict[str, Any]], None]) -> None:
        callbacks = self._by_thread.get(thread_id, [])
        with contextlib.suppress(ValueError):
            callbacks.remove(callback)
        if not callbacks:
            self._by_thread.pop(thread_id, None)

    def waiting(self, thread_id: str) -> bool:
        return thread_id in self._by_thread

    def recorded(self, thread_id: str, detail: dict[str, Any]) -> None:
        for callback in list(self._by_thread.get(thread_id, ())):
            callback(detail)


class Slots:
    """At most ``limit`` holders at once (long polls and streams of one process). Past it
    `take` refuses at once rather than queueing: a caller refused answers without waiting."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    @property
    def full(self) -> bool:
        """Whether every slot is held."""
        return self.held >= self.limit

    @contextlib.contextmanager
    def take(self) -> Iterator[bool]:
        """Hold a slot for the block if one is free; yields whether it got one."""
        if self.full:
            yield False
            return
        self.held += 1
        try:
            yield True
        finally:
            self.held -= 1


class ThreadWatch:
    def __init__(
        self, pool: AsyncConnectionPool[Any], thread_id: str, waiters: Waiters | None
    ) -> None:
        self.pool = pool
        self.thread_id = thread_id
        self.waiters = waiters
        self.changed = asyncio.Event()
        self.recorded: list[dict[str, Any]] = []

    def on_change(self, payload: str) -> None:
        if payload in ("", self.thread_id):
            self.changed.set()

    def on_record(self, detail: dict[str, Any]) -> None:
        self.recorded.append(detail)
        self.changed.set()

    async def settled(self, timeout: float, *, created: ThreadWithValues | None = None) -> Found:
        """The thread and its pending requests once it is at rest, or as it is after
        ``timeout`` seconds.

        ``created`` is the thread as the caller's own write created it: nothing older can be
        its state, so the first read is skipped and the runner's handoff awaited. (After an
        answer the thread is read: a run's record may have committed just before the answer.)
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = created.version if created is not None else None
        read = created is None
        while True:
            self.changed.clear()
            if self.recorded and seen is not None:
                thread = ThreadWithValues.model_validate(self.recorded[-1])
                if thread.status in SETTLED and thread.version >= seen:
                    return thread, self.recorded[-1]["pending"]
            remaining = deadline - loop.time()
            if not read and remaining > 0:
                # the run the write queued has not been recorded yet: its record comes next
                handed = len(self.recorded)
                await wait_event(self.changed, min(remaining, RECHECK_SECONDS))
                read = len(self.recorded) == handed  # a notification, or the recheck: read
                continue
            if seen is not None and self.waiters and self.thread_id in self.waiters.recording:
                # the notification of a record this process is writing: it comes next
                await wait_event(self.changed, min(max(remaining, 0.0), 0.5))
                if remaining > 0:
                    continue
            async with self.pool.connection() as conn:
                thread, pending = await threads.get_with_pending(conn, self.thread_id)
            seen = thread.version
            remaining = deadline - loop.time()
            if thread.status in SETTLED or remaining <= 0:
                return thread, pending
            await wait_event(self.changed, min(remaining, RECHECK_SECONDS))


@contextlib.asynccontextmanager
async def watch(
    pool: AsyncConnectionPool[Any], notifier: Notifier, waiters: Waiters | None, thread_id: str
) -> AsyncIterator[ThreadWatch]:
    found = ThreadWatch(pool, thread_id, waiters)
    notifier.add_listener(pg_channels.THREADS_CHANNEL, found.on_change)
    if waiters:
        waiters.add(thread_id, found.on_record)
    try:
        yield found
    finally:
        notifier.remove_listener(pg_channels.THREADS_CHANNEL, found.on_change)
        if waiters:
            waiters.remove(thread_id, found.on_record)
