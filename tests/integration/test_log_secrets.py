"""No secrets in logs: a run that delivers signed webhooks (with a retry) logs neither the
endpoint's secret nor a signature, in the records or in the JSON lines they format to."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from standardwebhooks import Webhook

from hitl import logcontext
from hitl.config import Settings
from tests.support import webhooks
from tests.support.api import respond, settle, start
from tests.support.receiver import Receiver


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return webhooks.delivering_locally(settings, webhook_lease_seconds=5.0, retention_interval=0.0)


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with Receiver(script=[500]) as receiver:  # the first attempt fails: a retry is logged
        yield receiver


async def test_webhook_delivery_logs_no_secret_or_signature(
    client: httpx.AsyncClient, hook: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    r = await client.post("/api/v1/webhooks", json={"url": hook.url(), "events": ["*"]})
    assert r.status_code == 201, r.text
    secret: str = r.json()["secret"]

    thread_id = await start(client, "approval", {})
    thread = await settle(client, thread_id)
    request_id = thread["interrupts"][0]["request_id"]
    assert (await respond(client, request_id, {"decision": "approve"})).status_code == 200
    assert (await settle(client, thread_id))["status"] == "completed"
    received = await hook.wait_for(4)

    signatures = {m.headers["webhook-signature"] for m in received}
    for message in received[1:]:  # the first one got a 500
        Webhook(secret).verify(message.body, message.headers)
    assert caplog.records, "nothing was logged: the test would prove nothing"
    assert any(getattr(r, "thread_id", None) or "thread" in r.getMessage() for r in caplog.records)

    formatter = logcontext.JSONFormatter()
    plain = logcontext.PlainFormatter()
    texts = [caplog.text]
    for record in caplog.records:
        texts += [formatter.format(record), plain.format(record)]
    forbidden = {secret, secret.removeprefix("whsec_")}
    for header in signatures:
        forbidden |= {header, *(s.partition(",")[2] for s in header.split())}
    for text in texts:
        for value in forbidden:
            assert value not in text
