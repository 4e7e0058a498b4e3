"""Signatures the service makes verify with Standard Webhooks; the receiver refuses forgeries,
stale messages and replays, durably."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from hitl.sdk.receiver import SQLiteDedupeStore, WebhookMessage, WebhookReceiver, WebhookRejected
from hitl.webhooks import schedule, signing

BODY = json.dumps({"event": "request.responded", "response": {"decision": "approve"}})


def signed(secrets: list[str], body: str = BODY, at: int | None = None, msg_id: str = "m1") -> Any:
    return signing.headers(secrets, msg_id, at if at is not None else int(time.time()), body)


def test_secret_form() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    import base64

    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24


@pytest.fixture
def handled(tmp_path: Path) -> tuple[list[Any], Any]:
    calls: list[Any] = []

    async def handler(payload: Any, message: WebhookMessage) -> None:
        calls.append(payload)

    return calls, handler


async def test_receiver_accepts_then_dedupes_durably(tmp_path: Path, handled: Any) -> None:
    calls, handler = handled
    secret = signing.new_secret()
    store_path = tmp_path / "dedupe.db"
    receiver = WebhookReceiver(secret, handler, store=SQLiteDedupeStore(store_path))
    assert await receiver.receive(BODY.encode(), signed([secret])) == "handled"
    assert await receiver.receive(BODY.encode(), signed([secret])) == "duplicate"
    # A new receiver (a restarted process) remembers it.
    again = WebhookReceiver(secret, handler, store=SQLiteDedupeStore(store_path))
    assert await again.receive(BODY.encode(), signed([secret])) == "duplicate"
    assert len(calls) == 1


@pytest.mark.parametrize("case", ["tampered body", "wrong secret", "stale", "future", "unsigned"])
async def test_receiver_rejects(case: str, tmp_path: Path, handled: Any) -> None:
    calls, handler = handled
    secret = signing.new_secret()
    receiver = WebhookReceiver(secret, handler, store=SQLiteDedupeStore(tmp_path / "d.db"))
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


async def test_rotation_both_signatures_verify(tmp_path: Path, handled: Any) -> None:
    calls, handler = handled
    old, new = signing.new_secret(), signing.new_secret()
    headers = signed([new, old])
    assert len(headers["webhook-signature"].split(" ")) == 2
    for n, known in enumerate(([old], [new], [new, old])):
        receiver = WebhookReceiver(known, handler, store=SQLiteDedupeStore(tmp_path / f"{n}.db"))
        assert await receiver.receive(BODY.encode(), headers) == "handled"
    assert len(calls) == 3


async def test_a_failing_handler_leaves_the_id_to_the_retry(tmp_path: Path) -> None:
    attempts: list[str] = []

    async def handler(payload: Any, message: WebhookMessage) -> None:
        attempts.append(message.id)
        if len(attempts) == 1:
            raise RuntimeError("down for a moment")

    secret = signing.new_secret()
    receiver = WebhookReceiver(secret, handler, store=SQLiteDedupeStore(tmp_path / "d.db"))
    with pytest.raises(RuntimeError):
        await receiver.receive(BODY.encode(), signed([secret]))
    assert await receiver.receive(BODY.encode(), signed([secret])) == "handled"
    assert attempts == ["m1", "m1"]


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
