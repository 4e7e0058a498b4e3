"""The delivery worker: claims due deliveries, signs and POSTs them, logs every attempt.

Deliveries are claimed with ``FOR UPDATE SKIP LOCKED`` and a lease that the worker renews while
it sends; a worker that dies (even between the claim and the send) leaves its deliveries to be
taken over when their lease lapses, with the same ``webhook-id``. Each attempt gets a fresh
``webhook-timestamp`` and signature; only a 2xx succeeds, 3xx is not followed, 410 disables the
endpoint, 429 and 503 wait at least their ``Retry-After``, everything else retries on the
schedule (`hitl.webhooks.schedule`). The attempt, its outcome and the delivery's next state are
recorded in one statement; the outcomes of attempts that end while one batch is being recorded
go together in the next (one round trip for many). A delivery stays leased until its outcome is
recorded, so a crash before that sends it again, with the same ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from hitl import metrics, workers
from hitl._aio import wait_event
from hitl._failpoints import failpoint
from hitl.config import Settings
from hitl.db import queries as q
from hitl.webhooks import endpoints, schedule, signing
from hitl.webhooks.ssrf import BlockedAddress, guarded_client

log = logging.getLogger("hitl.webhooks")

MAX_RESPONSE_BYTES = 20 * 1024
MAX_RECORD_BATCH = 500


@dataclass(frozen=True)
class Claimed:
    """A delivery leased to this worker, with what sending it needs."""

    id: str
    endpoint_id: str
    url: str
    body: str
    attempts: int
    manual: bool
    enabled: bool
    secret: str
    previous_secret: str | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> Claimed:
        return cls(
            id=str(row["id"]),
            endpoint_id=str(row["endpoint_id"]),
            url=row["url"],
            body=row["body"],
            attempts=row["attempts"],
            manual=row["manual"],
            enabled=row["enabled"],
            secret=row["secret"],
            previous_secret=row["previous_secret"],
        )

    @property
    def secrets(self) -> list[str]:
        return [self.secret] + ([self.previous_secret] if self.previous_secret else [])


@dataclass(frozen=True)
class Attempt:
    """What one attempt came to."""

    outcome: str  # succeeded | failed | blocked | timeout | error
    timestamp: int | None = None
    status: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    excerpt: str | None = None
    retry_after: float | None = None


async def send(client: httpx.AsyncClient, delivery: Claimed, timeout: float) -> Attempt:
    """Sign and POST once; never raises for what the receiver or the network does."""
    timestamp = int(time.time())
    headers = signing.headers(delivery.secrets, delivery.id, timestamp, delivery.body)
    started = time.perf_counter()

    def took() -> float:
        return round((time.perf_counter() - started) * 1000, 2)

    try:
        async with asyncio.timeout(timeout):
            async with client.stream(
                "POST", delivery.url, content=delivery.body.encode(), headers=headers
            ) as response:
                excerpt = await _read_some(response)
    except BlockedAddress as exc:
        return Attempt("blocked", timestamp, latency_ms=took(), error=str(exc))
    except (TimeoutError, httpx.TimeoutException):
        return Attempt("timeout", timestamp, latency_ms=took(), error=f"no answer in {timeout}s")
    except (httpx.HTTPError, OSError) as exc:
        return Attempt("error", timestamp, latency_ms=took(), error=f"{type(exc).__name__}: {exc}")
    status = response.status_code
    ok = 200 <= status < 300
    return Attempt(
        "succeeded" if ok else "failed",
        timestamp,
        status=status,
        latency_ms=took(),
        error=None if ok else f"HTTP {status}",
        excerpt=excerpt,
        retry_after=schedule.retry_after(response.headers.get("retry-after")),
    )


async def _read_some(response: httpx.Response) -> str:
    """At most MAX_RESPONSE_BYTES of the body; the rest is never read."""
    data = bytearray()
    async for chunk in response.aiter_raw():
        data += chunk
        if len(data) >= MAX_RESPONSE_BYTES:
            break
    # Postgres text cannot hold NUL characters.
    return bytes(data[:MAX_RESPONSE_BYTES]).decode("utf-8", errors="replace").replace("\x00", "")


@dataclass(frozen=True)
class _Outcome:
    """An attempt waiting to be recorded; ``recorded`` resolves once it is."""

    delivery: Claimed
    attempt: Attempt
    fate: schedule.Next
    recorded: asyncio.Future[None]


def _maybe_transaction(conn: Any, needed: object) -> Any:
    return conn.transaction() if needed else contextlib.nullcontext()


class Deliverer:
    """Sends due deliveries, up to ``webhook_concurrency`` at once, until `stop`."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        settings: Settings,
        *,
        owner: str | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.owner = owner or workers.worker_name()
        self.schedule = settings.webhook_schedule
        self.client = client or guarded_client(
            settings.webhook_networks,
            timeout=settings.webhook_timeout,
            max_connections=settings.webhook_concurrency,
        )
        self.wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._active: dict[str, asyncio.Task[None]] = {}
        self._outcomes: list[_Outcome] = []
        self._outcome_ready = asyncio.Event()
        self.metrics: metrics.Observer = metrics.NO_METRICS

    def notify(self, _payload: str = "") -> None:
        self.wakeup.set()

    async def stop(self) -> None:
        self._stopping.set()
        self.wakeup.set()

    async def run(self) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(), name="hitl-webhooks-heartbeat")
        recorder = asyncio.create_task(self._recorder(), name="hitl-webhooks-recorder")
        try:
            while not self._stopping.is_set():
                self.wakeup.clear()
                if await self._claim():
                    continue
                await wait_event(self.wakeup, self.settings.poll_interval)
        finally:
            await self._drain()
            for task in (heartbeat, recorder):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.client.aclose()

    async def _claim(self) -> bool:
        """Start deliveries in the free slots; True if every free slot got one."""
        free = self.settings.webhook_concurrency - len(self._active)
        if free <= 0:
            return False
        params = {"owner": self.owner, "lease": self.settings.webhook_lease_seconds, "limit": free}
        try:
            async with self.pool.connection() as conn:
                cur = await conn.execute(q.CLAIM_DELIVERIES, params)
                rows = await cur.fetchall()
        except Exception as exc:
            log.warning("claiming deliveries failed: %s", exc)
            return False
        for row in rows:
            delivery = Claimed.of(row)
            task = asyncio.create_task(self._deliver(delivery), name=f"hitl-webhook-{delivery.id}")
            self._active[delivery.id] = task
            task.add_done_callback(functools.partial(self._done, delivery.id))
        if rows:
            self.metrics.webhooks_active(len(self._active))
        return len(rows) == free

    def _done(self, delivery_id: str, _task: asyncio.Task[None]) -> None:
        self._active.pop(delivery_id, None)
        self.metrics.webhooks_active(len(self._active))
        # Claim in batches: once a quarter of the slots is free (or all are).
        free = self.settings.webhook_concurrency - len(self._active)
        if not self._active or free >= max(1, self.settings.webhook_concurrency // 4):
            self.wakeup.set()

    async def _deliver(self, delivery: Claimed) -> None:
        try:
            if not delivery.enabled:
                attempt = Attempt("error", error="the endpoint is disabled; nothing was sent")
            else:
                failpoint("before_webhook_send")
                attempt = await send(self.client, delivery, self.settings.webhook_timeout)
            latency = attempt.latency_ms
            self.metrics.webhook_attempted(attempt.outcome, latency and latency / 1000)
            fate = self._fate(delivery, attempt)
            recorded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._outcomes.append(_Outcome(delivery, attempt, fate, recorded))
            self._outcome_ready.set()
            await recorded
        except asyncio.CancelledError:
            raise
        except Exception:
            # Postgres away: the lease lapses and the delivery is sent again, same webhook-id.
            log.exception("delivery %s could not be recorded", delivery.id)

    def _fate(self, delivery: Claimed, attempt: Attempt) -> schedule.Next:
        return schedule.after_attempt(
            self.schedule,
            delivery.attempts + 1,
            succeeded=attempt.outcome == "succeeded",
            status=attempt.status,
            retry_after_seconds=attempt.retry_after,
            manual=delivery.manual or not delivery.enabled,
        )

    async def _recorder(self) -> None:
        """Record the outcomes that ended, a batch per statement, and release their senders."""
        while True:
            await self._outcome_ready.wait()
            self._outcome_ready.clear()
            while self._outcomes:
                batch = self._outcomes[:MAX_RECORD_BATCH]
                del self._outcomes[:MAX_RECORD_BATCH]
                try:
                    await self._record(batch)
                except Exception as exc:
                    for outcome in batch:
                        if not outcome.recorded.done():
                            outcome.recorded.set_exception(exc)
                else:
                    for outcome in batch:
                        if not outcome.recorded.done():
                            outcome.recorded.set_result(None)

    async def _record(self, batch: list[_Outcome]) -> None:
        """One statement for the batch; disabling endpoints (rare) joins it in a transaction."""
        rows = [
            {
                "id": o.delivery.id,
                "timestamp": o.attempt.timestamp,
                "outcome": o.attempt.outcome,
                "status": o.attempt.status,
                "latency": o.attempt.latency_ms,
                "error": o.attempt.error,
                "excerpt": o.attempt.excerpt,
                "state": o.fate.state,
                "delay": o.fate.delay,
            }
            for o in batch
        ]
        disable = {o.delivery.endpoint_id: o.fate.disable for o in batch if o.fate.disable}
        async with self.pool.connection() as conn, _maybe_transaction(conn, disable):
            cur = await conn.execute(
                q.RECORD_ATTEMPTS,
                {
                    "outcomes": Jsonb(rows),
                    "owner": self.owner,
                    "disable_after": self.settings.webhook_disable_after_seconds,
                },
            )
            for row in await cur.fetchall():
                disable.setdefault(
                    str(row["endpoint_id"]), "failing without a success for too long"
                )
            for endpoint_id, reason in disable.items():
                if await endpoints.disable(conn, endpoint_id, reason):
                    log.warning("webhook endpoint %s disabled: %s", endpoint_id, reason)
        for o in batch:
            log.debug(
                "delivery %s attempt %d: %s -> %s",
                o.delivery.id,
                o.delivery.attempts + 1,
                o.attempt.outcome,
                o.fate.state,
            )

    async def _heartbeat(self) -> None:
        """Renew our leases; make deliveries of workers that stopped renewing theirs due."""
        lease = self.settings.webhook_lease_seconds
        while not self._stopping.is_set():
            try:
                async with self.pool.connection() as conn:
                    cur = await conn.execute(q.REAP_EXPIRED_DELIVERIES)
                    if taken := len(await cur.fetchall()):
                        self.metrics.leases_taken_over("webhook_delivery", taken)
                        self.wakeup.set()
                    if self._active:
                        await conn.execute(
                            q.HEARTBEAT_DELIVERIES, (lease, self.owner, list(self._active))
                        )
            except Exception as exc:
                log.warning("delivery heartbeat failed: %s", exc)
            await wait_event(self._stopping, lease / 3)

    async def _drain(self) -> None:
        """Let attempts in flight end (they are bounded by the timeout), then release the rest."""
        if not self._active:
            return
        _, still = await asyncio.wait(
            list(self._active.values()), timeout=self.settings.webhook_timeout + 1
        )
        if still:
            ids = [did for did, task in self._active.items() if task in still]
            for task in still:
                task.cancel()
            await asyncio.gather(*still, return_exceptions=True)
            with contextlib.suppress(Exception):
                async with self.pool.connection() as conn:
                    await conn.execute(q.RELEASE_DELIVERIES, (self.owner, ids))
