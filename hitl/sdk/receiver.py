"""`WebhookReceiver`: the agent's side of a signed webhook, as an ASGI app or a plain call.

    created = SQLiteCreatedRequests("agent.db")   # HITLClient(url, created=created) fills it
    receiver = WebhookReceiver(
        secret, handler, store=SQLiteDedupeStore("agent.db"), requests=created
    )
    app.mount("/webhooks", receiver)          # FastAPI / Starlette / any ASGI app

For each message it reads at most ``max_body_bytes`` (a larger body gets 413 and is not read
further), checks the Standard Webhooks signature against each of its secrets (give the old and
the new one while rotating) before parsing anything, refuses a ``webhook-timestamp`` more than
5 minutes off, refuses a request callback (a payload with ``event``) unless its ``request_id``
is one this agent created for the ``workflow_id`` it names (`hitl.sdk.created`; with
``requests=None`` every callback is refused: a receiver for events only), skips a
``webhook-id`` it already handled (the record is durable: the service retries with the same
id, also after your process restarts), and only then calls ``handler(payload, message)``. The
id is recorded as handled once the handler returns; if the handler raises, the receiver answers
500 and the service retries later. Answers: 204 handled, 200 duplicate, 400 bad signature or
timestamp, 403 a callback for a request this agent did not create (logged as a warning), 409
the same id is being handled right now, 413 the body is too large, 500 the handler failed.
Event deliveries (a payload with ``type``) are not checked against the created requests: they
are news, not answers; a handler must not resume a workflow from them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from standardwebhooks import Webhook, WebhookVerificationError

from hitl.sdk import _sqlite
from hitl.sdk.created import CreatedRequests

log = logging.getLogger("hitl.sdk.receiver")

Verdict = Literal["handled", "duplicate", "busy"]

MAX_BODY_BYTES = 2 * 1024 * 1024
"""The default bound on a message's body: above the service's own bound on what it takes in
(``HITL_MAX_BODY_BYTES``, 1 MB), so every callback fits."""


class WebhookRejected(Exception):
    """The message is not authentic or not fresh; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CallbackRefused(Exception):
    """An authentic callback about a request this agent did not create (or for another
    workflow than the one it was created for); ``reason`` says which request and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class WebhookMessage:
    id: str
    timestamp: int
    payload: Any
    body: bytes


Handler = Callable[[Any, WebhookMessage], Awaitable[None]]


class DedupeStore(Protocol):
    """Remembers handled ``webhook-id``s durably."""

    async def claim(self, webhook_id: str) -> Verdict | None:
        """None if the caller may handle it now; else why not (duplicate, busy)."""

    async def done(self, webhook_id: str) -> None: ...

    async def release(self, webhook_id: str) -> None: ...


class SQLiteDedupeStore:
    """A `DedupeStore` in one SQLite file. A claim left by a crashed handler is free again
    after ``claim_seconds``; handled ids are kept ``keep_seconds`` (30 days)."""

    def __init__(
        self, path: str | Path, *, claim_seconds: float = 300, keep_seconds: float = 30 * 86400
    ) -> None:
        self.path = str(path)
        self.claim_seconds = claim_seconds
        self.keep_seconds = keep_seconds
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS handled_webhooks ("
                " id TEXT PRIMARY KEY, done INTEGER NOT NULL, at REAL NOT NULL)"
            )

    def _connect(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return _sqlite.connect(self.path)

    def _claim(self, webhook_id: str) -> Verdict | None:
        now = time.time()
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM handled_webhooks WHERE at < ?", (now - self.keep_seconds,))
            row = db.execute(
                "SELECT done, at FROM handled_webhooks WHERE id = ?", (webhook_id,)
            ).fetchone()
            verdict: Verdict | None = None
            if row is None or (not row[0] and row[1] < now - self.claim_seconds):
                db.execute(
                    "INSERT OR REPLACE INTO handled_webhooks (id, done, at) VALUES (?, 0, ?)",
                    (webhook_id, now),
                )
            else:
                verdict = "duplicate" if row[0] else "busy"
            db.execute("COMMIT")
            return verdict

    def _done(self, webhook_id: str) -> None:
        with self._connect() as db:
            db.execute(
                "UPDATE handled_webhooks SET done = 1, at = ? WHERE id = ?",
                (time.time(), webhook_id),
            )

    def _release(self, webhook_id: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM handled_webhooks WHERE id = ? AND done = 0", (webhook_id,))

    async def claim(self, webhook_id: str) -> Verdict | None:
        return await asyncio.to_thread(self._claim, webhook_id)

    async def done(self, webhook_id: str) -> None:
        await asyncio.to_thread(self._done, webhook_id)

    async def release(self, webhook_id: str) -> None:
        await asyncio.to_thread(self._release, webhook_id)


class WebhookReceiver:
    """Verifies, checks a callback is about a request this agent created, dedupes, then hands
    signed webhooks to ``handler``. An ASGI app too.

    ``requests`` is the record of the requests this agent created (`hitl.sdk.created`); it is
    required so that a receiver cannot resume workflows for any signed answer by oversight.
    None refuses every request callback (a receiver for events only)."""

    def __init__(
        self,
        secrets: str | Sequence[str],
        handler: Handler,
        *,
        store: DedupeStore,
        requests: CreatedRequests | None,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        names = [secrets] if isinstance(secrets, str) else list(secrets)
        if not names:
            raise ValueError("give at least one secret")
        if max_body_bytes < 1:
            raise ValueError("max_body_bytes must be positive")
        self._verifiers = [Webhook(s) for s in names]
        self.handler = handler
        self.store = store
        self.requests = requests
        self.max_body_bytes = max_body_bytes

    def verify(self, body: bytes, headers: Mapping[str, str]) -> WebhookMessage:
        """The message, if one of our secrets signed it within the last 5 minutes. The body is
        parsed as JSON only once its signature is good: nobody else's bytes get parsed."""
        lowered = {k.lower(): v for k, v in headers.items()}
        problem = "no signature"
        for verifier in self._verifiers:
            try:
                verifier.verify(body, lowered, json_parse=False)
            except WebhookVerificationError as exc:
                problem = str(exc)
                if "timestamp" in problem.lower() or "headers" in problem.lower():
                    break  # the same for every secret
                continue
            except (ValueError, UnicodeDecodeError) as exc:
                problem = f"malformed: {exc}"
                break
            try:
                payload = json.loads(body)
            except ValueError as exc:
                raise WebhookRejected(f"malformed: not JSON: {exc}") from None
            return WebhookMessage(
                lowered["webhook-id"], int(lowered["webhook-timestamp"]), payload, body
            )
        raise WebhookRejected(problem)

    async def check_created(self, message: WebhookMessage) -> None:
        """Raise `CallbackRefused` (and log it) if ``message`` is a request callback for a
        request this agent did not create, or for another workflow. Events pass."""
        payload = message.payload
        if not isinstance(payload, dict) or "event" not in payload:
            return
        request_id = payload.get("request_id")
        metadata = payload.get("metadata")
        workflow_id = metadata.get("workflow_id") if isinstance(metadata, dict) else None
        if self.requests is None:
            reason = f"request {request_id!r}: this receiver takes no request callbacks"
        elif not isinstance(request_id, str) or not request_id:
            reason = "the callback names no request_id"
        else:
            created_for = await self.requests.workflow_of(request_id)
            if created_for is None:
                reason = f"request {request_id!r} was not created by this agent"
            elif created_for != workflow_id:
                reason = (
                    f"request {request_id!r} was created for workflow {created_for!r}, "
                    f"not {workflow_id!r}"
                )
            else:
                return
        log.warning(
            "refused callback %s (created by %r, answered by %r): %s; nothing was resumed",
            message.id,
            payload.get("created_by"),
            payload.get("responded_by"),
            reason,
        )
        raise CallbackRefused(reason)

    async def receive(self, body: bytes, headers: Mapping[str, str]) -> Verdict:
        """Verify, check, dedupe and handle one message; raises `WebhookRejected` if it is not
        authentic, `CallbackRefused` if it answers a request this agent did not create, and
        whatever the handler raises."""
        message = self.verify(body, headers)
        await self.check_created(message)
        verdict = await self.store.claim(message.id)
        if verdict is not None:
            return verdict
        try:
            await self.handler(message.payload, message)
        except BaseException:
            await self.store.release(message.id)
            raise
        await self.store.done(message.id)
        return "handled"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] != "POST":
            await _answer(send, 405, {"detail": "POST only"})
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        body = await self._read_body(receive, headers)
        if body is None:
            log.warning("refused a webhook body over %d bytes", self.max_body_bytes)
            detail = f"the body is larger than {self.max_body_bytes} bytes"
            await _answer(send, 413, {"detail": detail})
            return
        try:
            verdict = await self.receive(body, headers)
        except WebhookRejected as exc:
            await _answer(send, 400, {"detail": f"webhook rejected: {exc.reason}"})
            return
        except CallbackRefused as exc:
            await _answer(send, 403, {"detail": f"callback refused: {exc.reason}"})
            return
        except Exception as exc:
            await _answer(send, 500, {"detail": f"handler failed: {type(exc).__name__}"})
            return
        status = {"handled": 204, "duplicate": 200, "busy": 409}[verdict]
        await _answer(send, status, None if status == 204 else {"detail": verdict})

    async def _read_body(self, receive: Any, headers: Mapping[str, str]) -> bytes | None:
        """The body, read a chunk at a time; None as soon as it would pass the bound (by its
        ``content-length``, before reading any of it), so at most the bound is held."""
        length = next((v for k, v in headers.items() if k.lower() == "content-length"), None)
        if length is not None and length.strip().isdigit() and int(length) > self.max_body_bytes:
            return None
        body = bytearray()
        while True:
            message = await receive()
            if message.get("type") == "http.disconnect":
                break
            chunk = message.get("body", b"")
            if len(body) + len(chunk) > self.max_body_bytes:
                return None
            body += chunk
            if not message.get("more_body"):
                break
        return bytes(body)


async def _answer(send: Any, status: int, body: Any) -> None:
    payload = b"" if body is None else json.dumps(body).encode()
    headers = [] if body is None else [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
