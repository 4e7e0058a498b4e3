"""Signatures the service makes verify with Standard Webhooks; the receiver refuses forgeries,
stale messages and replays, durably, callbacks about requests its agent did not create, and
bodies over its bound (without reading them whole)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from hitl.sdk.created import SQLiteCreatedRequests
from hitl.sdk.receiver import (
    CallbackRefused,
    SQLiteDedupeStore,
    WebhookMessage,
    WebhookReceiver,
    WebhookRejected,
)
from hitl.webhooks import schedule, signing

CALLBACK = {
    "event": "request.responded",
    "request_id": "r-1",
    "metadata": {"workflow_id": "wf-1", "checkpoint_id": None},
    "response": {"decision": "approve"},
    "responded_by": "alice",
    "created_by": "key:agent",
}
BODY = json.dumps(CALLBACK)


def signed(secrets: list[str], body: str = BODY, at: int | None = None, msg_id: str = "m1") -> Any:
    return signing.headers(secrets, msg_id, at if at is not None else int(time.time()), body)


def test_secret_form() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    import base64

    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24


@pytest.fixture
def created(tmp_path: Path) -> SQLiteCreatedRequests:
    """The agent's record of its requests, holding r-1 (for wf-1)."""
    store = SQLiteCreatedRequests(tmp_path / "created.db")
    store.record("r-1", "wf-1")
    return store


@pytest.fixture
def handled(tmp_path: Path) -> tuple[list[Any], Any]:
    calls: list[Any] = []

    async def handler(payload: Any, message: WebhookMessage) -> None:
        calls.append(payload)

    return calls, handler


async def test_receiver_accepts_then_dedupes_durably(
    tmp_path: Path, handled: Any, created: SQLiteCreatedRequests
) -> None:
    calls, handler = handled
    secret = signing.new_secret()
    store_path = tmp_path / "dedupe.db"
    receiver = WebhookReceiver(
        secret, handler, store=SQLiteDedupeStore(store_path), requests=created
    )
    assert await receiver.receive(BODY.encode(), signed([secret])) == "handled"
    assert await receiver.receive(BODY.encode(), signed([secret])) == "duplicate"
    # A new receiver (a restarted process) remembers it.
    again = WebhookReceiver(secret, handler, store=SQLiteDedupeStore(store_path), requests=created)
    assert await again.receive(BODY.encode(), signed([secret])) == "duplicate"
    assert len(calls) == 1


@pytest.mark.parametrize("case", ["tampered body", "wrong secret", "stale", "future", "unsigned"])
async def test_receiver_rejects(
    case: str, tmp_path: Path, handled: Any, created: SQLiteCreatedRequests
) -> None:
    calls, handler = handled
    secret = signing.new_secret()
    receiver = WebhookReceiver(
        secret, handler, store=SQLiteDedupeStore(tmp_path / "d.db"), requests=created
    )
    body, headers = BODY, signed([secret])
    if case == "tampered body":
        body = BODY.replace("approve", "reject")
    elif case == "wrong secret":
        headers = signed([signing.new_secret()])
    elif case == "stale":
        headers = signed([secret], at=int(time.time()) - 6 * 60)
    elif case == "future":
        headers = signed([secret], at=int(time.time()) + 6 * 60)
    else:
        headers = {k: v for k, v in headers.items() if k != "webhook-signature"}
    with pytest.raises(WebhookRejected):
        await receiver.receive(body.encode(), headers)
    assert calls == []


async def test_rotation_both_signatures_verify(
    tmp_path: Path, handled: Any, created: SQLiteCreatedRequests
) -> None:
    calls, handler = handled
    old, new = signing.new_secret(), signing.new_secret()
    headers = signed([new, old])
    assert len(headers["webhook-signature"].split(" ")) == 2
    for n, known in enumerate(([old], [new], [new, old])):
        store = SQLiteDedupeStore(tmp_path / f"{n}.db")
        receiver = WebhookReceiver(known, handler, store=store, requests=created)
        assert await receiver.receive(BODY.encode(), headers) == "handled"
    assert len(calls) == 3


async def test_a_failing_handler_leaves_the_id_to_the_retry(
    tmp_path: Path, created: SQLiteCreatedRequests
) -> None:
    attempts: list[str] = []

    async def handler(payload: Any, message: WebhookMessage) -> None:
        attempts.append(message.id)
        if len(attempts) == 1:
            raise RuntimeError("down for a moment")

    secret = signing.new_secret()
    receiver = WebhookReceiver(
        secret, handler, store=SQLiteDedupeStore(tmp_path / "d.db"), requests=created
    )
    with pytest.raises(RuntimeError):
        await receiver.receive(BODY.encode(), signed([secret]))
    assert await receiver.receive(BODY.encode(), signed([secret])) == "handled"
    assert attempts == ["m1", "m1"]


async def test_a_callback_for_a_request_the_agent_did_not_create_is_refused(
    tmp_path: Path, handled: Any, created: SQLiteCreatedRequests, caplog: pytest.LogCaptureFixture
) -> None:
    calls, handler = handled
    secret = signing.new_secret()
    dedupe = SQLiteDedupeStore(tmp_path / "d.db")
    receiver = WebhookReceiver(secret, handler, store=dedupe, requests=created)
    other = json.dumps({**CALLBACK, "request_id": "r-2"})
    with (
        caplog.at_level(logging.WARNING, "hitl.sdk.receiver"),
        pytest.raises(CallbackRefused) as no,
    ):
        await receiver.receive(other.encode(), signed([secret], other))
    assert no.value.reason == "request 'r-2' was not created by this agent"
    assert "refused callback m1 (created by 'key:agent', answered by 'alice')" in caplog.text
    assert "request 'r-2' was not created by this agent; nothing was resumed" in caplog.text

    moved = json.dumps({**CALLBACK, "metadata": {"workflow_id": "wf-victim"}})
    with pytest.raises(CallbackRefused) as elsewhere:
        await receiver.receive(moved.encode(), signed([secret], moved, msg_id="m2"))
    assert elsewhere.value.reason == (
        "request 'r-1' was created for workflow 'wf-1', not 'wf-victim'"
    )
    nameless = json.dumps({"event": "request.responded", "response": 1})
    with pytest.raises(CallbackRefused, match="names no request_id"):
        await receiver.receive(nameless.encode(), signed([secret], nameless, msg_id="m3"))
    assert calls == []

    # A refusal is not recorded as handled: once the request is known (a callback that came
    # before its record), the service's retry with the same webhook-id is taken.
    created.record("r-2", "wf-1")
    assert await receiver.receive(other.encode(), signed([secret], other)) == "handled"
    assert [c["request_id"] for c in calls] == ["r-2"]


async def test_a_receiver_without_created_requests_takes_events_only(
    tmp_path: Path, handled: Any
) -> None:
    calls, handler = handled
    secret = signing.new_secret()
    receiver = WebhookReceiver(
        secret, handler, store=SQLiteDedupeStore(tmp_path / "d.db"), requests=None
    )
    with pytest.raises(CallbackRefused, match="takes no request callbacks"):
        await receiver.receive(BODY.encode(), signed([secret]))
    event = json.dumps({"type": "request.created", "data": {"request_id": "r-9"}})
    assert await receiver.receive(event.encode(), signed([secret], event, msg_id="m2")) == "handled"
    assert calls == [json.loads(event)]


class Asgi:
    """One call of the receiver as an ASGI app: the body comes in ``chunks`` (an iterator, so
    it may be endless); what it pulled and what it answered are kept."""

    def __init__(self, headers: dict[str, str], chunks: Any) -> None:
        self.headers = [(k.encode(), v.encode()) for k, v in headers.items()]
        self.chunks = chunks
        self.pulled = 0
        self.sent: list[dict[str, Any]] = []

    async def __call__(self, receiver: WebhookReceiver) -> tuple[int, Any]:
        scope = {"type": "http", "method": "POST", "headers": self.headers}
        await receiver(scope, self._receive, self._send)
        status = self.sent[0]["status"]
        body = self.sent[1]["body"]
        return status, json.loads(body) if body else None

    async def _receive(self) -> dict[str, Any]:
        chunk = next(self.chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        self.pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def _send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


def endless(size: int) -> Any:
    while True:
        yield b"x" * size


async def test_the_asgi_receiver_bounds_the_body_and_answers_each_refusal(
    tmp_path: Path, handled: Any, created: SQLiteCreatedRequests
) -> None:
    calls, handler = handled
    secret = signing.new_secret()
    receiver = WebhookReceiver(
        secret,
        handler,
        store=SQLiteDedupeStore(tmp_path / "d.db"),
        requests=created,
        max_body_bytes=4096,
    )
    # Announced too large: refused before a byte is read.
    call = Asgi({**signed([secret]), "content-length": "5000"}, endless(1000))
    assert await call(receiver) == (413, {"detail": "the body is larger than 4096 bytes"})
    assert call.pulled == 0
    # Streamed without a length, endlessly: refused once the next chunk would pass the bound.
    call = Asgi(signed([secret]), endless(1000))
    assert (await call(receiver))[0] == 413
    assert call.pulled == 5000  # four chunks kept, the fifth seen and dropped

    def one(body: str, headers: dict[str, str]) -> Asgi:
        return Asgi(headers, iter([body.encode()]))

    assert await one(BODY, signed([secret]))(receiver) == (204, None)
    other = json.dumps({**CALLBACK, "request_id": "r-2"})
    status, answer = await one(other, signed([secret], other, msg_id="m2"))(receiver)
    assert status == 403
    assert answer == {"detail": "callback refused: request 'r-2' was not created by this agent"}
    # The signature is checked before the body is parsed: an unsigned non-JSON body is refused
    # for its signature, a signed one for not being JSON.
    forged = {**signed([signing.new_secret()], "{not json", msg_id="m3")}
    status, answer = await one("{not json", forged)(receiver)
    assert status == 400 and "signature" in answer["detail"]
    status, answer = await one("{not json", signed([secret], "{not json", msg_id="m4"))(receiver)
    assert status == 400 and "not JSON" in answer["detail"]
    assert [c["request_id"] for c in calls] == ["r-1"]


def test_schedule() -> None:
    plan = [0.0, 5.0, 300.0]
    assert schedule.after_attempt(plan, 1, succeeded=True, status=200).state == "succeeded"
    retry = schedule.after_attempt(plan, 1, succeeded=False, status=500)
    assert retry.state == "pending" and 4.0 <= retry.delay <= 6.0
    assert schedule.after_attempt(plan, 3, succeeded=False, status=500).state == "failed"
    gone = schedule.after_attempt(plan, 1, succeeded=False, status=410)
    assert gone.state == "failed" and gone.disable
    slow = schedule.after_attempt(plan, 1, succeeded=False, status=429, retry_after_seconds=60)
    assert slow.state == "pending" and slow.delay == 60
    assert schedule.after_attempt(plan, 1, succeeded=False, status=500, manual=True).state == (
        "failed"
    )
    assert schedule.retry_after("120") == 120
    assert schedule.retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert schedule.retry_after("soon") is None
