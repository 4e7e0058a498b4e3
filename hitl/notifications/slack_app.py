"""Slack app mode: posting requests where people answer them, and keeping every copy current.

With a bot token and a signing secret (``HITL_SLACK_BOT_TOKEN``, ``HITL_SLACK_SIGNING_SECRET``)
the Slack channel of the notifications outbox posts with the Web API (the official
``slack-sdk``) instead of an incoming webhook:

- **where**: each channel ``HITL_SLACK_ROUTES`` names for the request's graph or assigned
  groups (else ``HITL_SLACK_CHANNEL``), and a direct message to each assignee, whose Slack user
  is found by their account's email (``users.lookupByEmail``) and kept on the account;
- **what**: `hitl.notifications.slack_blocks` renders the request as it is when sent;
- **copies**: every message posted is recorded (``hitl_slack_messages``). After an answer from
  any door, an expiry, a cancellation, an escalation or a reassignment, a claim or its release,
  or a quorum vote, a trigger (migrations 0016, 0025) queues a ``slack:update`` notification,
  and `SlackApp.refresh` rewrites every copy with ``chat.update`` from the request as it then
  is: who claimed it and until when, the votes so far; once answered, buttons gone, who
  answered and when. A claim that times out has no event: the copies say until when it binds.

Both go through the outbox: claimed with a lease, retried on the webhook schedule. A post that
fails part-way is retried for the destinations it did not reach only. A post that raced an
answer (rendered pending, answered before it was recorded) is refreshed at once.

The SDK's client is synchronous (no aiohttp here); its calls run in a thread.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from psycopg_pool import AsyncConnectionPool
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from hitl import quorum, requests
from hitl.config import Settings
from hitl.db.sql import slack as slack_sql
from hitl.models import Request
from hitl.notifications import content, slack_blocks
from hitl.notifications.outcome import Outcome
from hitl.webhooks import schedule

log = logging.getLogger("hitl.notifications")

UPDATE = "slack:update"  # the recipient of a notification that updates the copies
REMINDED = "request.reminded"  # posted as a reply under the request's first copy
#: Slack errors that no retry mends: the token or the app is gone.
FATAL = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked"})
#: Errors about one destination (a channel, a person): skipped, the others still served.
SKIPPED = frozenset(
    {"channel_not_found", "is_archived", "not_in_channel", "user_not_found", "users_not_found"}
)
#: How many times `SlackApp.refresh` rewrites the copies while the request changes under it.
REFRESH_ROUNDS = 3
#: Errors about one message that is gone: nothing left to update.
GONE = frozenset({"message_not_found", "channel_not_found", "cant_update_message"})


class SlackCallFailed(Exception):
    """A Web API call that did not succeed, as the outbox records it (never the token)."""

    def __init__(self, error: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(error)
        self.error = error
        self.status = status
        self.retry_after = retry_after

    def outcome(self) -> Outcome:
        return Outcome(
            False,
            f"Slack: {self.error}",
            permanent=self.error in FATAL,
            status=self.status,
            retry_after=self.retry_after,
        )


def facts_of(request: Request) -> content.RequestFacts:
    return content.RequestFacts(
        id=request.id,
        kind=request.kind,
        graph=request.graph,
        title=request.title,
        value=request.value,
        state=request.state,
        deadline_at=request.deadline_at,
        response_schema=request.response_schema,
        claimed_by=request.claimed_by,
        claim_expires_at=request.claim_expires_at,
    )


class SlackApp:
    """The Web API for one process: posts, updates, modals, people."""

    def __init__(self, pool: AsyncConnectionPool[Any], settings: Settings) -> None:
        assert settings.slack_bot_token is not None
        self.pool = pool
        self.settings = settings
        self.client = WebClient(
            token=settings.slack_bot_token.get_secret_value(),
            base_url=settings.slack_api_url.rstrip("/") + "/",
            timeout=int(max(1, settings.webhook_timeout)),
        )

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """One Web API call (``chat.postMessage``...), through the SDK's method for it (which
        encodes it as Slack documents); `SlackCallFailed` unless Slack says ok."""
        send = getattr(self.client, method.replace(".", "_"))

        def run() -> dict[str, Any]:
            response = send(**params)
            return dict(response.data) if isinstance(response.data, dict) else {}

        try:
            return await asyncio.to_thread(run)
        except SlackApiError as exc:
            said = exc.response.get("error") if exc.response is not None else None
            status = exc.response.status_code if exc.response is not None else None
            headers = exc.response.headers if exc.response is not None else {}
            retry = schedule.retry_after(_header(headers, "retry-after"))
            raise SlackCallFailed(str(said or "error"), status=status, retry_after=retry) from None
        except (SlackClientError, OSError, ValueError) as exc:
            raise SlackCallFailed(f"{type(exc).__name__}: could not reach Slack") from None

    # -- posting ---------------------------------------------------------------------------

    async def message(
        self, request: Request, event_type: str = "request.created"
    ) -> dict[str, Any]:
        text = content.build(event_type, facts_of(request), {}, self.settings.link_base)
        votes: list[quorum.Vote] = []
        if request.approval is not None:
            async with self.pool.connection() as conn:
                votes = await requests.votes_of(conn, request.id)
        return slack_blocks.message(text, request, votes)

    async def deliver(self, notification_id: str, event_type: str, request_id: str) -> Outcome:
        """Send one ``slack`` notification: post it, or (``slack:update``) refresh the copies."""
        try:
            async with self.pool.connection() as conn:
                request = await requests.get(conn, request_id)
            if event_type == UPDATE:
                await self.refresh(request)
            else:
                await self.post(notification_id, event_type, request)
        except SlackCallFailed as exc:
            return exc.outcome()
        return Outcome(True)

    async def post(self, notification_id: str, event_type: str, request: Request) -> None:
        body = await self.message(request, event_type)
        async with self.pool.connection() as conn:
            cur = await conn.execute(slack_sql.POSTED, (notification_id,))
            done = {row["destination"] for row in await cur.fetchall()}
            threads: dict[str, dict[str, Any]] = {}
            if event_type == REMINDED:  # a reply under the first copy, not one more message
                cur = await conn.execute(slack_sql.FIRST_COPIES, (request.id,))
                threads = {row["destination"]: row for row in await cur.fetchall()}
        for destination in await self.destinations(request):
            if destination in done:
                continue
            try:
                sent = await self._post(destination, body, threads.get(destination))
            except SlackCallFailed as exc:
                if exc.error not in SKIPPED:
                    raise
                log.warning("Slack: could not post to %s: %s (skipped)", destination, exc.error)
                continue
            async with self.pool.connection() as conn:
                await conn.execute(
                    slack_sql.RECORD_MESSAGE,
                    {
                        "request_id": request.id,
                        "notification_id": notification_id,
                        "destination": destination,
                        "channel": sent.get("channel") or destination,
                        "ts": sent.get("ts") or "",
                    },
                )
        async with self.pool.connection() as conn:
            now = await requests.get(conn, request.id)
        if await self.message(now, event_type) != body:  # changed while this was posted
            await self.refresh(now)

    async def _post(
        self, destination: str, body: dict[str, Any], thread: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Post ``body`` to ``destination``: as a reply in ``thread`` (the request's first
        copy there) when given, else (or when the reply is refused: the first copy deleted,
        say) as a message of its own."""
        if thread is not None:
            try:
                return await self.call(
                    "chat.postMessage", channel=thread["channel"], thread_ts=thread["ts"], **body
                )
            except SlackCallFailed as exc:
                if exc.status != 200 or exc.retry_after is not None:
                    raise  # Slack unreachable, failing or asking to wait: the outbox retries
                log.warning("Slack: reply in %s refused: %s; posting anew", destination, exc.error)
        return await self.call("chat.postMessage", channel=destination, **body)

    async def refresh(self, request: Request) -> None:
        """Rewrite every copy of ``request`` as it is now.

        Two updates of one request may run at once (a vote and the answer it decides, a claim
        and an answer): the one that read the request first may write last. So after writing,
        the request is read again, and the copies rewritten while what they show is behind."""
        for _ in range(REFRESH_ROUNDS):
            event = "request.escalated" if request.escalations else "request.created"
            body = await self.message(request, event)
            await self._rewrite(request.id, body)
            async with self.pool.connection() as conn:
                now = await requests.get(conn, request.id)
            if await self.message(now, event) == body:
                return
            request = now

    async def _rewrite(self, request_id: str, body: dict[str, Any]) -> None:
        body = {k: v for k, v in body.items() if k != "unfurl_links"}
        async with self.pool.connection() as conn:
            cur = await conn.execute(slack_sql.MESSAGES_OF_REQUEST, (request_id,))
            copies = await cur.fetchall()
        for copy in copies:
            try:
                await self.call("chat.update", channel=copy["channel"], ts=copy["ts"], **body)
            except SlackCallFailed as exc:
                if exc.error not in GONE:
                    raise
                log.warning(
                    "Slack: message %s in %s is gone: %s", copy["ts"], copy["channel"], exc.error
                )
                continue
            async with self.pool.connection() as conn:
                await conn.execute(slack_sql.TOUCH_MESSAGE, (copy["id"],))

    # -- where a request goes --------------------------------------------------------------

    async def destinations(self, request: Request) -> list[str]:
        """The channels the routes name for the request (else the default channel), then the
        assignees' direct messages; each once."""
        routes = self.settings.slack_route_map
        keys = [f"graph:{request.graph}"] + [f"group:{g}" for g in request.assigned_groups]
        found = [routes[k] for k in keys if k in routes]
        if not found and self.settings.slack_channel:
            found.append(self.settings.slack_channel)
        if self.settings.slack_dm_assignees and request.assignees:
            found += await self.slack_users(request.assignees)
        return list(dict.fromkeys(found))

    async def slack_users(self, usernames: list[str]) -> list[str]:
        """The Slack users of these accounts: kept on the account, else looked up by email
        (and then kept). An account without an address or Slack user is left out."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(slack_sql.PEOPLE, (usernames,))
            people = await cur.fetchall()
        found = []
        for person in people:
            if person["slack_user_id"]:
                found.append(person["slack_user_id"])
                continue
            if not (person["email"] or "").strip():
                continue
            try:
                user = await self.call("users.lookupByEmail", email=person["email"].strip())
            except SlackCallFailed as exc:
                if exc.error not in SKIPPED:
                    raise
                log.info("Slack: no Slack user for %s's address", person["username"])
                continue
            slack_id = str((user.get("user") or {}).get("id") or "")
            if not slack_id:
                continue
            async with self.pool.connection() as conn:
                params = {"slack_user_id": slack_id, "username": person["username"]}
                await conn.execute(slack_sql.LINK_USER, params)
            found.append(slack_id)
        return found


def _header(headers: Any, name: str) -> str | None:
    if not isinstance(headers, dict):
        return None
    for key, value in headers.items():
        if str(key).lower() == name:
            return str(value[0] if isinstance(value, list) else value)
    return None
