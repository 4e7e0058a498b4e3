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

import contextlib
import dataclasses
import logging
from typing import Any

import httpx
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from hitl import logcontext
from hitl._failpoints import failpoint
from hitl.config import Settings
from hitl.leased import LeasedWorker
from hitl.notifications import choices, content, queue, slack, slack_app, smtp, tokens
from hitl.notifications.outcome import Outcome
from hitl.webhooks import schedule

log = logging.getLogger("hitl.notifications")

#: Messages in flight at once per process (SMTP servers limit connections per client).
CONCURRENCY = 8

_STATUS: dict[str, queue.Status] = {"succeeded": "sent", "pending": "pending", "failed": "failed"}


class Sender(LeasedWorker[queue.Claimed]):
    """Sends due notifications of the channels this process is configured for, until `stop`."""

    logger = log
    heartbeat_name = "hitl-notifications-beat"
    task_prefix = "hitl-notification-"
    takeover_work = "notification"
    claim_failed = "claiming notifications failed: %s"
    heartbeat_failed = "notification heartbeat failed: %s"

    def __init__(
        self, pool: AsyncConnectionPool[Any], settings: Settings, *, owner: str | None = None
    ) -> None:
        super().__init__(pool, settings, owner=owner)
        self.channels = settings.notification_channels
        if "email" in self.channels and not settings.public_url:
            log.warning(
                "HITL_PUBLIC_URL is not set: emails carry a link to the request only, no "
                "answer buttons (their links must reach this service from people's mailboxes)"
            )
        self.schedule = settings.webhook_schedule
        # Slack's URL is the operator's setting, not user input: no SSRF guard, no redirects.
        self._http = httpx.AsyncClient(
            timeout=settings.webhook_timeout, follow_redirects=False, trust_env=False
        )
        self._slack_app = slack_app.SlackApp(pool, settings) if settings.slack_app else None

    @property
    def capacity(self) -> int:
        return CONCURRENCY

    def _running(self) -> contextlib.AbstractContextManager[object]:
        secret = self.settings.slack_webhook_url
        hidden = slack.hidden_from_logs(secret.get_secret_value()) if secret else None
        return hidden or contextlib.nullcontext()

    async def _close(self) -> None:
        await self._http.aclose()

    async def _claim_some(self, conn: AsyncConnection[Any], free: int) -> list[queue.Claimed]:
        return await queue.claim(conn, self.owner, self.channels, self.lease, free)

    async def _reap(self, conn: AsyncConnection[Any]) -> int:
        reaped = await queue.reap_expired(conn, len(self.schedule))
        if reaped:
            log.warning("took over %d notifications whose sender stopped", len(reaped))
        return len(reaped)

    async def _renew(self, conn: AsyncConnection[Any], ids: list[str]) -> None:
        await queue.heartbeat(conn, self.owner, ids, self.lease)

    async def _release(self, conn: AsyncConnection[Any], ids: list[str]) -> None:
        await queue.release(conn, self.owner, ids)

    async def _handle(self, note: queue.Claimed) -> None:
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
            text = await self._with_buttons(note, text)
            msg = smtp.build(
                text, sender=self.settings.smtp_from, to=note.recipient, notification_id=note.id
            )
            return await smtp.send(self.settings, msg, note.recipient)
        if self._slack_app is not None:
            event = slack_app.UPDATE if note.recipient == slack_app.UPDATE else note.event_type
            return await self._slack_app.deliver(note.id, event, note.request.id)
        if note.recipient == slack_app.UPDATE:
            return Outcome(True)  # an incoming webhook's messages cannot be updated
        assert self.settings.slack_webhook_url is not None
        url = self.settings.slack_webhook_url.get_secret_value()
        return await slack.send(self._http, url, slack.payload(text))

    async def _with_buttons(self, note: queue.Claimed, text: content.Content) -> content.Content:
        """``text`` with one answer button per choice for this recipient, when the request is
        pending, answered by a choice, and links can point at the public address."""
        request = note.request
        if request.state != "pending" or note.username is None or not self.settings.public_url:
            return text
        options = choices.of(request.response_schema, request.value)
        if not options:
            return text
        async with self.pool.connection() as conn:
            issued = await tokens.issue(
                conn,
                request_id=request.id,
                username=note.username,
                choices=options,
                expires_at=tokens.lifetime(request.deadline_at),
                notification_id=note.id,
            )
        base = self.settings.public_url
        buttons = tuple(content.Button(c.label, content.answer_link(base, t)) for c, t in issued)
        return dataclasses.replace(text, buttons=buttons)

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
