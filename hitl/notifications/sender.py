"""The sender loop: claims due notifications, writes and sends each message, records the outcome.

Like the webhook delivery worker: notifications are claimed with ``FOR UPDATE SKIP LOCKED`` and
a lease this sender renews while it works, so several processes never take the same one, and a
sender that dies (before, during or after a send) leaves its notifications to be taken over
when the lease lapses. The attempt is counted when claimed. A failed attempt is retried on
the webhook schedule (`hitl.webhooks.schedule`, ``HITL_WEBHOOK_RETRY_SCHEDULE``) until it runs
out, then the notification is ``failed`` with its last error kept; a final refusal (an SMTP
5xx for the recipient, a Slack webhook that is gone) fails it at once.

Sending is at least once: a crash after the server took the message and before the outcome is
recorded sends it again, with the same ``Message-ID`` for email.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Any

import httpx
from psycopg_pool import AsyncConnectionPool

from hitl import logcontext, metrics
from hitl._aio import wait_event
from hitl._failpoints import failpoint
from hitl.config import Settings
from hitl.notifications import content, queue, slack, smtp
from hitl.notifications.outcome import Outcome
from hitl.webhooks import schedule
from hitl.workers import worker_name

log = logging.getLogger("hitl.notifications")

#: Messages in flight at once per process (SMTP servers limit connections per client).
CONCURRENCY = 8

_STATUS: dict[str, queue.Status] = {"succeeded": "sent", "pending": "pending", "failed": "failed"}


class Sender:
    """Sends due notifications of the channels this process is configured for, until `stop`."""

    def __init__(
        self, pool: AsyncConnectionPool[Any], settings: Settings, *, owner: str | None = None
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.owner = owner or worker_name()
        self.channels = settings.notification_channels
        self.schedule = settings.webhook_schedule
        self.lease = settings.webhook_lease_seconds
        self.metrics: metrics.Observer = metrics.NO_METRICS
        self.wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._active: dict[str, asyncio.Task[None]] = {}
        # Slack's URL is the operator's setting, not user input: no SSRF guard, no redirects.
        self._http = httpx.AsyncClient(
            timeout=settings.webhook_timeout, follow_redirects=False, trust_env=False
        )

    def notify(self, _payload: str = "") -> None:
        self.wakeup.set()

    async def stop(self) -> None:
        self._stopping.set()
        self.wakeup.set()

    async def run(self) -> None:
        secret = self.settings.slack_webhook_url
        hidden = slack.hidden_from_logs(secret.get_secret_value()) if secret else None
        with hidden or contextlib.nullcontext():
            heartbeat = asyncio.create_task(self._heartbeat(), name="hitl-notifications-beat")
            try:
                while not self._stopping.is_set():
                    self.wakeup.clear()
                    if await self._claim():
                        continue
                    await wait_event(self.wakeup, self.settings.poll_interval)
            finally:
                await self._drain()
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat
                await self._http.aclose()

    async def _claim(self) -> bool:
        """Start notifications in the free slots; True if every free slot got one."""
        free = CONCURRENCY - len(self._active)
        if free <= 0:
            return False
        try:
            async with self.pool.connection() as conn:
                claimed = await queue.claim(conn, self.owner, self.channels, self.lease, free)
        except Exception as exc:
            log.warning("claiming notifications failed: %s", exc)
            return False
        for note in claimed:
            task = asyncio.create_task(self._send(note), name=f"hitl-notification-{note.id}")
            self._active[note.id] = task
            task.add_done_callback(functools.partial(self._done, note.id))
        return len(claimed) == free

    def _done(self, notification_id: str, _task: asyncio.Task[None]) -> None:
        self._active.pop(notification_id, None)
        self.wakeup.set()

    async def _send(self, note: queue.Claimed) -> None:
        with logcontext.bind(request_id=note.request.id):
            try:
                outcome = await self._attempt(note)
            except Exception as exc:  # a bug of ours, not the receiver's doing: retry it
                log.exception("notification %s could not be sent", note.id)
                outcome = Outcome(False, f"{type(exc).__name__} while sending")
            failpoint("after_notification_send")
            fate = self._fate(note, outcome)
            status = _STATUS[fate.state]
            try:
                async with self.pool.connection() as conn:
                    held = await queue.record(
                        conn,
                        note.id,
                        self.owner,
                        status=status,
                        delay=fate.delay,
                        error=outcome.error,
                    )
            except Exception:
                # Postgres away: the lease lapses and the notification is sent again.
                log.exception("notification %s: its outcome could not be recorded", note.id)
                return
            if not held:
                log.warning("notification %s: lease lost before its outcome was recorded", note.id)
                return
            if status in ("sent", "failed"):
                self.metrics.notification_settled(note.channel, status)
            if not outcome.sent:
                log.warning(
                    "%s notification %s, attempt %d: %s -> %s",
                    note.channel,
                    note.id,
                    note.attempts,
                    outcome.error,
                    status,
                )

    async def _attempt(self, note: queue.Claimed) -> Outcome:
        text = content.build(note.event_type, note.request, note.details, self.settings.link_base)
        if note.channel == "email":
            msg = smtp.build(
                text, sender=self.settings.smtp_from, to=note.recipient, notification_id=note.id
            )
            return await smtp.send(self.settings, msg, note.recipient)
        assert self.settings.slack_webhook_url is not None
        url = self.settings.slack_webhook_url.get_secret_value()
        return await slack.send(self._http, url, slack.payload(text))

    def _fate(self, note: queue.Claimed, outcome: Outcome) -> schedule.Next:
        if outcome.sent:
            return schedule.Next("succeeded")
        if outcome.permanent:
            return schedule.Next("failed")
        return schedule.after_attempt(
            self.schedule,
            note.attempts,
            succeeded=False,
            status=outcome.status,
            retry_after_seconds=outcome.retry_after,
        )

    async def _heartbeat(self) -> None:
        """Renew our leases; make notifications of senders that stopped renewing theirs due."""
        while not self._stopping.is_set():
            try:
                async with self.pool.connection() as conn:
                    reaped = await queue.reap_expired(conn, len(self.schedule))
                    if reaped:
                        log.warning("took over %d notifications whose sender stopped", len(reaped))
                        self.metrics.leases_taken_over("notification", len(reaped))
                        self.wakeup.set()
                    if self._active:
                        await queue.heartbeat(conn, self.owner, list(self._active), self.lease)
            except Exception as exc:
                log.warning("notification heartbeat failed: %s", exc)
            await wait_event(self._stopping, self.lease / 3)

    async def _drain(self) -> None:
        """Let sends in flight end (bounded by the timeout), then give the rest back."""
        if not self._active:
            return
        _, still = await asyncio.wait(
            list(self._active.values()), timeout=self.settings.webhook_timeout + 1
        )
        if still:
            ids = [nid for nid, task in self._active.items() if task in still]
            for task in still:
                task.cancel()
            await asyncio.gather(*still, return_exceptions=True)
            with contextlib.suppress(Exception):
                async with self.pool.connection() as conn:
                    await queue.release(conn, self.owner, ids)
