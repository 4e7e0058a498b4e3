"""Webhook URLs in logs: a delivery is logged by its endpoint id and the URL's origin (scheme,
host, port), never the path or query, where receivers often put a token."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from hitl import logcontext
from hitl.config import Settings
from tests.support import webhooks
from tests.support.api import respond, settle, start
from tests.support.receiver import Receiver

PATH_TOKEN = "tok-in-path-7f3a9c"
QUERY_TOKEN = "tok-in-query-51be02"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return webhooks.delivering_locally(settings, retention_interval=0.0)


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with Receiver(script=[500]) as receiver:  # a retry is logged too
        yield receiver


async def test_delivery_logs_show_the_origin_and_endpoint_only(
    client: httpx.AsyncClient, hook: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = hook.url(f"/hooks/{PATH_TOKEN}?key={QUERY_TOKEN}")
    r = await client.post("/api/v1/webhooks", json={"url": url, "events": ["*"]})
    assert r.status_code == 201, r.text
    endpoint_id = r.json()["id"]

    thread_id = await start(client, "approval", {})
    request_id = (await settle(client, thread_id))["interrupts"][0]["request_id"]
    assert (await respond(client, request_id, {"decision": "approve"})).status_code == 200
    assert (await settle(client, thread_id))["status"] == "completed"
    received = await hook.wait_for(4)
    assert received[0].path == f"/hooks/{PATH_TOKEN}"  # the receiver got the whole URL

    origin = f"http://127.0.0.1:{hook.port}"
    json_lines, plain_lines = logcontext.JSONFormatter(), logcontext.PlainFormatter()
    texts = [caplog.text]
    for record in caplog.records:
        texts += [json_lines.format(record), plain_lines.format(record)]
    for text in texts:
        assert PATH_TOKEN not in text and QUERY_TOKEN not in text and "/hooks/" not in text

    # What is logged instead: httpx's request line shows the origin, ours the endpoint too.
    requests = [r for r in caplog.records if r.name == "httpx" and origin in r.getMessage()]
    assert requests
    assert all(getattr(r, "endpoint_id", None) == endpoint_id for r in requests)
    ours = [r.getMessage() for r in caplog.records if r.name == "hitl.webhooks"]
    assert any(f"endpoint {endpoint_id} at {origin}," in m for m in ours), ours
