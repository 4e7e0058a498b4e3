"""`WebhookReceiver`: the agent's side of a signed webhook, as an ASGI app or a plain call.

    receiver = WebhookReceiver(secret, handler, store=SQLiteDedupeStore("hooks.db"))
    app.mount("/webhooks", receiver)          # FastAPI / Starlette / any ASGI app

For each message it checks the Standard Webhooks signature against each of its secrets (give
the old and the new one while rotating), refuses a ``webhook-timestamp`` more than 5 minutes
off, skips a ``webhook-id`` it already handled (the record is durable: the service retries
with the same id, also after your process restarts), and only then calls ``handler(payload,
message)``. The id is recorded as handled once the handler returns; if the handler raises,
the receiver answers 500 and the service retries later. Answers: 204 handled, 200 duplicate,
400 bad signature or timestamp, 409 the same id is being handled right now, 500 the handler
failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from standardwebhooks import Webhook, WebhookVerificationError

Verdict = Literal["handled", "duplicate", "busy"]


class WebhookRejected(Exception):
    """The message is not authentic or not fresh; ``reason`` says which."""

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

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            yield db
        finally:
            db.close()

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
    """Verifies, dedupes, then hands signed webhooks to ``handler``. An ASGI app too."""

    def __init__(
        self, secrets: str | Sequence[str], handler: Handler, *, store: DedupeStore
    ) -> None:
        names = [secrets] if isinstance(secrets, str) else list(secrets)
        if not names:
            raise ValueError("give at least one secret")
        self._verifiers = [Webhook(s) for s in names]
        self.handler = handler
        self.store = store

    def verify(self, body: bytes, headers: Mapping[str, str]) -> WebhookMessage:
        """The message, if one of our secrets signed it within the last 5 minutes."""
        lowered = {k.lower(): v for k, v in headers.items()}
        problem = "no signature"
        for verifier in self._verifiers:
            try:
                payload = verifier.verify(body, lowered)
            except WebhookVerificationError as exc:
                problem = str(exc)
                if "timestamp" in problem.lower() or "headers" in problem.lower():
                    break  # the same for every secret
                continue
            except (ValueError, UnicodeDecodeError) as exc:
                problem = f"malformed: {exc}"
                break
            return WebhookMessage(
                lowered["webhook-id"], int(lowered["webhook-timestamp"]), payload, body
            )
        raise WebhookRejected(problem)

    async def receive(self, body: bytes, headers: Mapping[str, str]) -> Verdict:
        """Verify, dedupe and handle one message; raises `WebhookRejected` if it is not
        authentic, and whatever the handler raises."""
        message = self.verify(body, headers)
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
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            verdict = await self.receive(bytes(body), headers)
        except WebhookRejected as exc:
            await _answer(send, 400, {"detail": f"webhook rejected: {exc.reason}"})
            return
        except Exception as exc:
            await _answer(send, 500, {"detail": f"handler failed: {type(exc).__name__}"})
            return
        status = {"handled": 204, "duplicate": 200, "busy": 409}[verdict]
        await _answer(send, status, None if status == 204 else {"detail": verdict})


async def _answer(send: Any, status: int, body: Any) -> None:
    payload = b"" if body is None else json.dumps(body).encode()
    headers = [] if body is None else [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
