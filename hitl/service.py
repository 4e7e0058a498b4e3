"""The service: engines, pool, checkpointer, compiled graphs and background loops, composed.

`Service.open(settings)` is an async context manager; everything it starts, it stops. The API
(`hitl.api.app`) holds one, and so do the tests and notebooks that drive the service in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from hitl import (
    db,
    deadlines,
    engines,
    events,
    idempotency,
    langgraph_json,
    metrics,
    pg_channels,
    request_watch,
    retention,
    thread_watch,
    timers,
    workers,
)
from hitl._aio import wait_event
from hitl.auth.apikeys import KeyCache
from hitl.bus import Bus
from hitl.checkpointer import PooledPostgresSaver
from hitl.config import Settings
from hitl.db import migrate
from hitl.models import ThreadWithValues
from hitl.notifications import queue as notification_queue
from hitl.notifications.sender import Sender
from hitl.pg_listener import Notifier
from hitl.registry import GraphRegistry, ServedGraphs, default_registry
from hitl.request_watch import RequestWatch
from hitl.run_streams import RunStreams
from hitl.runner import Runner
from hitl.thread_watch import ThreadWatch
from hitl.webhooks.deliverer import Deliverer

log = logging.getLogger("hitl.service")

# How long the event relay lets events gather before a batch (see Service._relay_events).
RELAY_GATHER = 0.05
RELAY_SPACING = 0.25


@dataclass
class Service:
    settings: Settings
    registry: GraphRegistry
    pool: AsyncConnectionPool[Any]
    redis: Redis
    checkpointer: PooledPostgresSaver
    graphs: ServedGraphs
    notifier: Notifier
    identity: workers.Identity
    runner: Runner | None = None
    deliverer: Deliverer | None = None
    # API keys resolved lately; any revocation anywhere empties it (NOTIFY on KEYS_CHANNEL).
    key_cache: KeyCache = field(default_factory=KeyCache)
    sender: Sender | None = None
    # What the runner, the deliverer, the notification sender and retention report
    # (`hitl.metrics.Metrics` counts it).
    observer: metrics.Observer = metrics.NO_METRICS
    # Sees the rows each pruning batch deleted, per table, besides the metrics.
    on_pruned: Callable[[dict[str, int]], None] | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # Loops stop on this flag, not only on cancellation: on Python 3.11 a cancellation that
    # lands inside a library's asyncio.wait_for can be swallowed.
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _relay_wake: asyncio.Event = field(default_factory=asyncio.Event)
    # Long polls and live-update streams open in this process (HITL_MAX_WAITERS).
    waiting: thread_watch.Slots = field(init=False)
    # Streamed runs' chunks on Redis: the runner writes them, the door's streams read them.
    streams: RunStreams = field(init=False)

    def __post_init__(self) -> None:
        self.waiting = thread_watch.Slots(self.settings.max_waiters)
        self.streams = RunStreams(self.redis, self.settings)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        settings: Settings | None = None,
        registry: GraphRegistry | None = None,
        *,
        kind: workers.Kind = "serve",
        observer: metrics.Observer = metrics.NO_METRICS,
    ) -> AsyncIterator[Service]:
        """Start everything; ``kind`` is what the heartbeat row says this process is (``serve``:
        it answers HTTP too, ``worker``: `hitl worker`); ``observer`` sees the work done."""
        settings = settings or Settings()
        if registry is None:
            langgraph_json.load_graphs(settings.graph_modules, default_registry)
            registry = default_registry
        async with contextlib.AsyncExitStack() as stack:
            # only the service makes a data folder; a worker joins the one a service made
            database_url, redis_url = await engines.urls(settings, stack, create=kind == "serve")
            pool = db.create_pool(
                database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max
            )
            await pool.open(wait=True, timeout=30)
            stack.push_async_callback(pool.close)
            await migrate.migrate(pool)
            redis = Redis.from_url(redis_url)
            stack.push_async_callback(redis.aclose)
            checkpointer = PooledPostgresSaver(pool)
            graphs = ServedGraphs(registry, checkpointer)
            channels = [
                pg_channels.RUNS_CHANNEL,
                pg_channels.THREADS_CHANNEL,
                pg_channels.EVENTS_CHANNEL,
                pg_channels.REQUESTS_CHANNEL,
            ]
            notifier = Notifier(
                database_url,
                [
                    *channels,
                    pg_channels.CANCELS_CHANNEL,
                    pg_channels.WEBHOOKS_CHANNEL,
                    pg_channels.KEYS_CHANNEL,
                    pg_channels.NOTIFICATIONS_CHANNEL,
                ],
            )
            identity = workers.Identity.here(kind, _work(kind, settings))
            service = cls(settings, registry, pool, redis, checkpointer, graphs, notifier, identity)
            service.observer = observer
            notifier.add_listener(pg_channels.KEYS_CHANNEL, service.key_cache.clear)
            await notifier.start()
            stack.push_async_callback(notifier.stop)
            async with pool.connection() as conn:
                await workers.beat(conn, identity)  # seen from now on, idle or not
            stack.push_async_callback(service._stop_tasks)
            if settings.runner:
                service.runner = Runner(pool, graphs, registry, settings, owner=identity.id)
                service.runner.streams = service.streams
                service.runner.metrics = observer
                notifier.add_listener(pg_channels.RUNS_CHANNEL, service.runner.notify)
                notifier.add_listener(pg_channels.CANCELS_CHANNEL, service.runner.cancel_notified)
                service._spawn(service.runner.run(), "hitl-runner")
                service._spawn(service._fire_timers(), "hitl-timers")
            service._spawn(service._relay_events(), "hitl-event-relay")
            if settings.webhook_delivery:
                service.deliverer = Deliverer(pool, settings, owner=identity.id)
                service.deliverer.metrics = observer
                notifier.add_listener(pg_channels.WEBHOOKS_CHANNEL, service.deliverer.notify)
                service._spawn(service.deliverer.run(), "hitl-webhooks")
            await _record_channels(pool, settings)
            if settings.notification_channels:
                service.sender = Sender(pool, settings, owner=identity.id)
                service.sender.metrics = observer
                notifier.add_listener(pg_channels.NOTIFICATIONS_CHANNEL, service.sender.notify)
                service._spawn(service.sender.run(), "hitl-notifications")
            service._spawn(service._housekeeping(), "hitl-housekeeping")
            service._spawn(service._heartbeat(), "hitl-heartbeat")
            if settings.retention_interval > 0:
                service._spawn(service._prune(), "hitl-retention")
            log.info("service ready: graphs %s", ", ".join(registry.names()) or "(none)")
            yield service

    def _spawn(self, coro: Any, name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=name))

    async def _stop_tasks(self) -> None:
        self._stopping.set()
        self._relay_wake.set()
        if self.runner:
            await self.runner.stop()
        if self.deliverer:
            await self.deliverer.stop()
        if self.sender:
            await self.sender.stop()
        for task in self._tasks:
            if task.get_name() not in ("hitl-runner", "hitl-webhooks", "hitl-notifications"):
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # Last, once the runs held are finished or released: the process is gone.
        try:
            async with asyncio.timeout(5):
                async with self.pool.connection() as conn:
                    await workers.stopped(conn, self.identity.id)
        except Exception as exc:  # the row goes stale, then is forgotten
            log.warning("could not mark this worker stopped: %s", exc)

    async def _relay_events(self) -> None:
        """Move committed events from the outbox to Redis, in batches."""
        wake = self._relay_wake
        self.notifier.add_listener(pg_channels.EVENTS_CHANNEL, lambda _p: wake.set())
        bus = Bus.from_settings(self.redis, self.settings, source=events.SOURCE)
        batch = 500
        loop = asyncio.get_running_loop()
        relayed_at = 0.0
        while not self._stopping.is_set():
            wake.clear()
            try:
                relayed = await events.relay(self.pool, bus, batch)
                if relayed == batch:
                    continue
                if relayed:
                    relayed_at = loop.time()
            except Exception as exc:  # Redis or Postgres away: events wait in the outbox
                log.warning("event relay: %s", exc)
            if await wait_event(wake, self.settings.poll_interval * 5):
                # Let events gather into batches rather than one relay per event: a first event
                # after a quiet spell waits RELAY_GATHER, a steady stream is relayed every
                # RELAY_SPACING (each relay is a transaction and a Redis round trip).
                pause = max(RELAY_GATHER, relayed_at + RELAY_SPACING - loop.time())
                await wait_event(self._stopping, pause)

    @functools.cached_property
    def deadline_defaults(self) -> deadlines.Defaults:
        """The terms of requests that name none and have no graph defaults (the settings')."""
        return deadlines.defaults_from(self.settings)

    async def _fire_timers(self) -> None:
        """Reminders and deadlines (see hitl/timers.py): poll, fire what is due, again."""
        while not self._stopping.is_set():
            try:
                if await timers.fire_due(self.pool) == timers.BATCH:
                    continue  # there may be more due
            except Exception as exc:
                log.warning("timers: %s", exc)
            await wait_event(self._stopping, self.settings.poll_interval)

    async def _housekeeping(self) -> None:
        """Forget idempotency keys past their time."""
        while not self._stopping.is_set():
            try:
                async with self.pool.connection() as conn:
                    await idempotency.purge_expired(conn)
            except Exception as exc:
                log.warning("housekeeping: %s", exc)
            await wait_event(self._stopping, max(self.settings.poll_interval, 1.0))

    async def _heartbeat(self) -> None:
        """Renew this process's row in hitl_workers (see `hitl.workers`)."""
        while not await wait_event(self._stopping, self.settings.worker_heartbeat_seconds):
            try:
                async with self.pool.connection() as conn:
                    if forgotten := await workers.beat(conn, self.identity):
                        log.info("forgot %d workers silent for a day", forgotten)
            except Exception as exc:
                log.warning("heartbeat: %s", exc)

    async def _prune(self) -> None:
        """Delete what has aged out (see hitl/retention.py), every ``retention_interval``."""
        interval = self.settings.retention_interval
        # The first pass comes soon after start, so that frequent restarts still prune.
        if await wait_event(self._stopping, min(interval, 60.0)):
            return
        while not self._stopping.is_set():
            try:
                pruned = await retention.prune(
                    self.pool, self.settings, stopping=self._stopping, on_batch=self._pruned
                )
                if pruned.total:
                    log.info(pruned.summary())
            except Exception as exc:
                log.warning("retention: %s", exc)
            await wait_event(self._stopping, interval)

    def _pruned(self, counts: dict[str, int]) -> None:
        self.observer.rows_pruned(counts)
        if self.on_pruned:
            self.on_pruned(counts)

    def watch_thread(self, thread_id: str) -> contextlib.AbstractAsyncContextManager[ThreadWatch]:
        """Listen for ``thread_id`` coming to rest (see `hitl.thread_watch`); opened before a
        write, it sees the thread that write changes."""
        waiters = self.runner.waiters if self.runner else None
        return thread_watch.watch(self.pool, self.notifier, waiters, thread_id)

    async def wait_for_thread(
        self, thread_id: str, timeout: float
    ) -> tuple[ThreadWithValues, list[dict[str, Any]]]:
        """The thread (and its pending requests) once it is at rest (interrupted, completed,
        failed), or as it is after ``timeout``."""
        async with self.watch_thread(thread_id) as watch:
            return await watch.settled(timeout)

    def watch_request(
        self, request_id: str
    ) -> contextlib.AbstractAsyncContextManager[RequestWatch]:
        """Listen for ``request_id`` being settled (see `hitl.request_watch`)."""
        return request_watch.watch(self.pool, self.notifier, request_id)


def _work(kind: workers.Kind, settings: Settings) -> tuple[str, ...]:
    """What a process with these settings runs, for its heartbeat row."""
    found = [
        ("api", kind == "serve"),
        ("runner", settings.runner),
        ("timers", settings.runner),
        ("webhook_delivery", settings.webhook_delivery),
        ("event_relay", True),
        ("retention", settings.retention_interval > 0),
        ("notifications", bool(settings.notification_channels)),
    ]
    return tuple(name for name, runs in found if runs)


UNSET = {
    "email": "HITL_SMTP_HOST",
    "slack": "HITL_SLACK_WEBHOOK_URL or HITL_SLACK_BOT_TOKEN",
    "slack_app": "HITL_SLACK_BOT_TOKEN and HITL_SLACK_SIGNING_SECRET",
}


async def _record_channels(pool: AsyncConnectionPool[Any], settings: Settings) -> None:
    """Queue notifications for the channels this process can send (see hitl/notifications/)."""
    async with pool.connection() as conn:
        changed = await notification_queue.set_channels(conn, settings.recorded_channels)
    for channel, enabled in sorted(changed.items()):
        if enabled:
            log.info("%s notifications on", channel)
        else:
            # Every process records its own settings: one started without them turns them off.
            log.warning(
                "%s notifications off: this process is not configured for them (%s unset)",
                channel,
                UNSET.get(channel, "HITL_SLACK_WEBHOOK_URL"),
            )
