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

Logs name a delivery by its id and endpoint id and show of its URL only the origin (scheme,
host, port): receivers often put a token in the path or query, and logs travel further than
the database. httpx logs every request's full URL, so its lines are rewritten while a
delivery is being sent (`_OriginOnly`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from hitl import logcontext
from hitl._failpoints import failpoint
from hitl.config import Settings
from hitl.db.sql import deliveries as deliveries_sql
from hitl.leased import LeasedWorker
from hitl.webhooks import endpoints, schedule, signing
from hitl.webhooks.ssrf import BlockedAddress, guarded_client

log = logging.getLogger("hitl.webhooks")

MAX_RESPONSE_BYTES = 20 * 1024
MAX_RECORD_BATCH = 500

# The delivery being sent in this task, if any.
_sending: contextvars.ContextVar[Claimed | None] = contextvars.ContextVar(
    "hitl_webhook_sending", default=None
)


def origin(url: str | httpx.URL) -> str:
    """``scheme://host[:port]`` of ``url``: all of a webhook's address that logs may show."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "<invalid URL>"
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    return f"{parsed.scheme}://{host}" + (f":{parsed.port}" if parsed.port else "")


class _OriginOnly(logging.Filter):
    """On httpx's logger (which logs ``HTTP Request: POST <url> ...`` at INFO for every
    request): while a delivery is being sent, a URL in a line shows its origin only, and the
    line names the delivery and its endpoint."""

    def filter(self, record: logging.LogRecord) -> bool:
        delivery = _sending.get()
        if delivery is None:
            return True
        if isinstance(record.args, tuple):
            record.args = tuple(origin(a) if isinstance(a, httpx.URL) else a for a in record.args)
        record.delivery_id = delivery.id
        record.endpoint_id = delivery.endpoint_id
        return True


def _hide_paths_from_httpx_logs() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _OriginOnly) for f in logger.filters):
        logger.addFilter(_OriginOnly())


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

    token = _sending.set(delivery)
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
    finally:
        _sending.reset(token)
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


class Deliverer(LeasedWorker[Claimed]):
    """Sends due deliveries, up to ``webhook_concurrency`` at once, until `stop`."""

    logger = log
    heartbeat_name = "hitl-webhooks-heartbeat"
    task_prefix = "hitl-webhook-"
    takeover_work = "webhook_delivery"
    claim_failed = "claiming deliveries failed: %s"
    heartbeat_failed = "delivery heartbeat failed: %s"

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        settings: Settings,
        *,
        owner: str | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(pool, settings, owner=owner)
        _hide_paths_from_httpx_logs()
        self.schedule = settings.webhook_schedule
        self.client = client or guarded_client(
            settings.webhook_networks,
            timeout=settings.webhook_timeout,
            max_connections=settings.webhook_concurrency,
        )
        self._outcomes: list[_Outcome] = []
        self._outcome_ready = asyncio.Event()

    @property
    def capacity(self) -> int:
        return self.settings.webhook_concurrency

    def _background(self) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(self._recorder(), name="hitl-webhooks-recorder")]

    async def _close(self) -> None:
        await self.client.aclose()

    async def _claim_some(self, conn: AsyncConnection[Any], free: int) -> list[Claimed]:
        params = {"owner": self.owner, "lease": self.lease, "limit": free}
        cur = await conn.execute(deliveries_sql.CLAIM_DELIVERIES, params)
        return [Claimed.of(row) for row in await cur.fetchall()]

    def _after_claim(self, claimed: int) -> None:
        if claimed:
            self.metrics.webhooks_active(len(self._active))

    def _on_done(self) -> None:
        self.metrics.webhooks_active(len(self._active))
        # Claim in batches: once a quarter of the slots is free (or all are).
        free = self.capacity - len(self._active)
        if not self._active or free >= max(1, self.capacity // 4):
            self.wakeup.set()

    async def _reap(self, conn: AsyncConnection[Any]) -> int:
        cur = await conn.execute(deliveries_sql.REAP_EXPIRED_DELIVERIES)
        return len(await cur.fetchall())

    async def _renew(self, conn: AsyncConnection[Any], ids: list[str]) -> None:
        await conn.execute(deliveries_sql.HEARTBEAT_DELIVERIES, (self.lease, self.owner, ids))

    async def _release(self, conn: AsyncConnection[Any], ids: list[str]) -> None:
        await conn.execute(deliveries_sql.RELEASE_DELIVERIES, (self.owner, ids))

    async def _handle(self, delivery: Claimed) -> None:
        with logcontext.bind(delivery_id=delivery.id, endpoint_id=delivery.endpoint_id):
            await self._attempt(delivery)

    async def _attempt(self, delivery: Claimed) -> None:
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
                deliveries_sql.RECORD_ATTEMPTS,
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
                "delivery %s to endpoint %s at %s, attempt %d: %s -> %s",
                o.delivery.id,
                o.delivery.endpoint_id,
                origin(o.delivery.url),
                o.delivery.attempts + 1,
                o.attempt.outcome,
                o.fate.state,
                extra={"delivery_id": o.delivery.id, "endpoint_id": o.delivery.endpoint_id},
            )
