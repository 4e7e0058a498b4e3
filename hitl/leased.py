"""The lease loop the webhook deliverer and the notification sender share.

Both claim due rows with ``FOR UPDATE SKIP LOCKED`` and a lease, work on each claimed row in a
task of its own, renew their leases while they work, take over the rows of workers that stopped
renewing theirs, and when stopped let the work in flight end, give back the rest and close their
client. `LeasedWorker` is that loop, written once so that a fix to it (a lease renewed too late,
a task left running at shutdown) reaches both; a subclass says what is claimed, how one item is
handled and which statements renew, reap and release (`hitl.webhooks.deliverer.Deliverer`,
`hitl.notifications.sender.Sender`). The runner's loop is different (`hitl.runner`).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import functools
import logging
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from hitl import metrics, workers
from hitl._aio import wait_event
from hitl.config import Settings


class Item(Protocol):
    """A claimed row: its id is the key of its task and of its lease."""

    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=Item)


class LeasedWorker(abc.ABC, Generic[T]):
    """Claims items into ``capacity`` slots and handles each in a task, until `stop`.

    A subclass names its logger, tasks, metric label and warnings (the class attributes below)
    and supplies the hooks: `capacity`, `_claim_some`, `_handle`, `_reap`, `_renew`, `_release`
    and `_close`; `_after_claim`, `_on_done`, `_running` and `_background` have defaults.
    """

    #: The logger of the loop's warnings.
    logger: ClassVar[logging.Logger]
    #: The heartbeat task's name; an item's task is named ``task_prefix`` and its id.
    heartbeat_name: ClassVar[str]
    task_prefix: ClassVar[str]
    #: The ``work`` label of `metrics.Observer.leases_taken_over`.
    takeover_work: ClassVar[str]
    #: The warnings of a failed claim and of a failed heartbeat, with ``%s`` for the error.
    claim_failed: ClassVar[str]
    heartbeat_failed: ClassVar[str]

    def __init__(
        self, pool: AsyncConnectionPool[Any], settings: Settings, *, owner: str | None = None
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.owner = owner or workers.worker_name()
        self.lease = settings.webhook_lease_seconds
        self.metrics: metrics.Observer = metrics.NO_METRICS
        self.wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._active: dict[str, asyncio.Task[None]] = {}

    # -- what a subclass supplies

    @property
    @abc.abstractmethod
    def capacity(self) -> int:
        """How many items may be in flight at once."""

    @abc.abstractmethod
    async def _claim_some(self, conn: AsyncConnection[Any], free: int) -> list[T]:
        """Lease up to ``free`` due items to this worker."""

    @abc.abstractmethod
    async def _handle(self, item: T) -> None:
        """Work on one claimed item; its lease is renewed until this returns."""

    @abc.abstractmethod
    async def _reap(self, conn: AsyncConnection[Any]) -> int:
        """Make the items of workers whose lease lapsed due again; how many there were."""

    @abc.abstractmethod
    async def _renew(self, conn: AsyncConnection[Any], ids: list[str]) -> None:
        """Extend this worker's lease on ``ids`` by ``lease`` seconds."""

    @abc.abstractmethod
    async def _release(self, conn: AsyncConnection[Any], ids: list[str]) -> None:
        """Give back ``ids``, whose work was cancelled at shutdown."""

    @abc.abstractmethod
    async def _close(self) -> None:
        """Close what the items were handled with (an HTTP client), last of all."""

    def _after_claim(self, claimed: int) -> None:
        """Called once the tasks of ``claimed`` new items are started."""

    def _on_done(self) -> None:
        """Called when an item's task ended and left its slot: claim again."""
        self.wakeup.set()

    def _running(self) -> contextlib.AbstractContextManager[object]:
        """The context the whole run, its drain and `_close` included, runs in."""
        return contextlib.nullcontext()

    def _background(self) -> list[asyncio.Task[None]]:
        """More tasks to run beside the heartbeat; cancelled after it, once drained."""
        return []

    @property
    def drain_timeout(self) -> float:
        """How long stopping waits for the work in flight (bounded by the webhook timeout)."""
        return self.settings.webhook_timeout + 1

    # -- the loop

    def notify(self, _payload: str = "") -> None:
        self.wakeup.set()

    async def stop(self) -> None:
        self._stopping.set()
        self.wakeup.set()

    async def run(self) -> None:
        with self._running():
            heartbeat = asyncio.create_task(self._heartbeat(), name=self.heartbeat_name)
            tasks = [heartbeat, *self._background()]
            try:
                while not self._stopping.is_set():
                    self.wakeup.clear()
                    if await self._claim():
                        continue
                    await wait_event(self.wakeup, self.settings.poll_interval)
            finally:
                await self._drain()
                for task in tasks:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await self._close()

    async def _claim(self) -> bool:
        """Start items in the free slots; True if every free slot got one."""
        free = self.capacity - len(self._active)
        if free <= 0:
            return False
        try:
            async with self.pool.connection() as conn:
                claimed = await self._claim_some(conn, free)
        except Exception as exc:
            self.logger.warning(self.claim_failed, exc)
            return False
        for item in claimed:
            task = asyncio.create_task(self._handle(item), name=f"{self.task_prefix}{item.id}")
            self._active[item.id] = task
            task.add_done_callback(functools.partial(self._done, item.id))
        self._after_claim(len(claimed))
        return len(claimed) == free

    def _done(self, item_id: str, _task: asyncio.Task[None]) -> None:
        self._active.pop(item_id, None)
        self._on_done()

    async def _heartbeat(self) -> None:
        """Renew our leases; make the items of workers that stopped renewing theirs due."""
        while not self._stopping.is_set():
            try:
                async with self.pool.connection() as conn:
                    if taken := await self._reap(conn):
                        self.metrics.leases_taken_over(self.takeover_work, taken)
                        self.wakeup.set()
                    if self._active:
                        await self._renew(conn, list(self._active))
            except Exception as exc:
                self.logger.warning(self.heartbeat_failed, exc)
            await wait_event(self._stopping, self.lease / 3)

    async def _drain(self) -> None:
        """Let the work in flight end (bounded by `drain_timeout`), then give the rest back."""
        if not self._active:
            return
        _, still = await asyncio.wait(list(self._active.values()), timeout=self.drain_timeout)
        if still:
            ids = [item_id for item_id, task in self._active.items() if task in still]
            for task in still:
                task.cancel()
            await asyncio.gather(*still, return_exceptions=True)
            with contextlib.suppress(Exception):
                async with self.pool.connection() as conn:
                    await self._release(conn, ids)
