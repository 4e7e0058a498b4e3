"""Webhook endpoints and deliveries against a real receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from hitl.config import Settings
from tests.support import webhooks
from tests.support.api import respond, settle, start
from tests.support.receiver import Receiver


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return webhooks.delivering_locally(settings, webhook_lease_seconds=5.0)


async def until(
    client: httpx.AsyncClient, path: str, field: str, value: Any, timeout: float = 10
) -> dict[str, Any]:
    """GET ``path`` until its ``field`` is ``value`` (the attempt is logged after the send)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        body: dict[str, Any] = (await client.get(path)).json()
        if body.get(field) == value or loop.time() > deadline:
            assert body.get(field) == value, body
            return body
        await asyncio.sleep(0.05)


async def register(client: httpx.AsyncClient, url: str, events: list[str]) -> dict[str, Any]:
    r = await client.post("/api/v1/webhooks", json={"url": url, "events": events})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def external_request(
    client: httpx.AsyncClient, callback: str, **extra: Any
) -> dict[str, Any]:
    body = {
        "workflow_id": "wf-1",
        "checkpoint_id": "cp-1",
        "callback_webhook": callback,
        "context": {"question": "ship it?"},
        "response_schema": {
            "type": "object",
            "properties": {"decision": {"enum": ["approve", "reject"]}},
            "required": ["decision"],
        },
        **extra,
    }
    r = await client.post("/api/v1/requests", json=body)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def test_external_request_answer_sends_a_signed_callback(
    client: httpx.AsyncClient, hook: Receiver
) -> None:
    endpoint = await register(client, hook.url(), [])
    request = await external_request(client, hook.url(), title="Deploy?")
    assert request["kind"] == "external" and request["state"] == "pending"
    assert request["thread_id"] is None and request["value"] == {"question": "ship it?"}

    inbox = (await client.get("/api/v1/requests", params={"state": "pending"})).json()["items"]
    assert [r["id"] for r in inbox] == [request["id"]]

    bad = await respond(client, request["id"], {"decision": "maybe"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][:3] == [
        "body",
        "response",
        "decision",
    ]
    ok = await respond(client, request["id"], {"decision": "approve"})
    assert ok.status_code == 200, ok.text

    [message] = await hook.wait_for(1)
    payload = Webhook(endpoint["secret"]).verify(message.body, message.headers)
    assert payload == {
        "event": "request.responded",
        "request_id": request["id"],
        "metadata": {"workflow_id": "wf-1", "checkpoint_id": "cp-1"},
        "response": {"decision": "approve"},
        "responded_by": "key:tests",
        "responded_at": payload["responded_at"],
        "created_by": "key:tests",
        "created_by_subject": "key:1",
    }
    assert message.headers["content-type"] == "application/json"

    shown = await until(client, f"/api/v1/requests/{request['id']}", "callback_state", "succeeded")
    assert shown["state"] == "responded"
    assert shown["callback_delivery_id"] == message.webhook_id
    log = (await client.get(f"/api/v1/requests/{request['id']}/deliveries")).json()
    assert log[0]["state"] == "succeeded"
    assert log[0]["attempt_log"][0]["status_code"] == 200


async def test_an_expired_external_request_calls_back_to_say_so(
    client: httpx.AsyncClient, hook: Receiver
) -> None:
    endpoint = await register(client, hook.url(), [])
    on_timeout = {"action": "expire"}
    request = await external_request(
        client, hook.url(), timeout_seconds=1, reminders=[], on_timeout=on_timeout
    )

    [message] = await hook.wait_for(1)  # the service's timer expires it: nobody answers
    payload = Webhook(endpoint["secret"]).verify(message.body, message.headers)
    shown = await until(client, f"/api/v1/requests/{request['id']}", "callback_state", "succeeded")
    assert shown["state"] == "expired"
    assert payload == {
        "event": "request.expired",
        "request_id": request["id"],
        "metadata": {"workflow_id": "wf-1", "checkpoint_id": "cp-1"},
        "response": None,
        "reason": payload["reason"],
        "deadline_at": payload["deadline_at"],
        "expired_at": payload["expired_at"],
        "created_by": "key:tests",
        "created_by_subject": "key:1",
    }
    assert "deadline" in payload["reason"]
    assert payload["deadline_at"] <= payload["expired_at"]
    assert shown["callback_delivery_id"] == message.webhook_id
    late = await respond(client, request["id"], {"decision": "approve"})
    assert late.status_code == 409
    assert len(hook.received) == 1  # one callback, and nothing for the late answer


async def test_retries_keep_the_webhook_id_with_fresh_timestamps(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # Slower than the fixture's schedule, so that each attempt's timestamp is a later second.
    client.service.deliverer.schedule = [0, 1.3, 1.3, 1.3]  # type: ignore[attr-defined]
    async with Receiver(script=[500, 500, 500, 200]) as hook:
        endpoint = await register(client, hook.url(), [])
        request = await external_request(client, hook.url())
        assert (await respond(client, request["id"], {"decision": "reject"})).status_code == 200
        received = await hook.wait_for(4)
    assert len({m.webhook_id for m in received}) == 1
    stamps = [int(m.headers["webhook-timestamp"]) for m in received]
    assert stamps == sorted(stamps) and len(set(stamps)) == 4
    for message in received:
        Webhook(endpoint["secret"]).verify(message.body, message.headers)
    assert len({m.body for m in received}) == 1

    delivery = await until(
        client, f"/api/v1/deliveries/{received[0].webhook_id}", "state", "succeeded"
    )
    assert delivery["attempts"] == 4
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 500, 500, 200]
    assert [a["webhook_timestamp"] for a in delivery["attempt_log"]] == stamps


async def test_hosted_graph_events_reach_subscribers(
    client: httpx.AsyncClient, hook: Receiver
) -> None:
    await register(client, hook.url(), ["thread.interrupted", "thread.completed"])
    thread_id = await start(client, "approval", {})
    thread = await settle(client, thread_id)
    [interrupted] = await hook.wait_for(1)
    assert interrupted.json["type"] == "thread.interrupted"
    data = interrupted.json["data"]
    assert data["thread_id"] == thread_id and data["graph"] == "approval"
    [interrupt] = data["interrupts"]
    assert interrupt["interrupt_id"] == thread["interrupts"][0]["interrupt_id"]
    assert interrupt["value"] == {"question": "approve?"}

    request_id = thread["interrupts"][0]["request_id"]
    assert (await respond(client, request_id, {"decision": "approve"})).status_code == 200
    assert (await settle(client, thread_id))["status"] == "completed"
    _, completed = await hook.wait_for(2)
    assert completed.json["type"] == "thread.completed"
    assert completed.json["data"]["thread_id"] == thread_id


async def test_request_page_lists_deliveries_and_redelivers(
    client: httpx.AsyncClient, hook: Receiver
) -> None:
    await register(client, hook.url(), [])
    request = await external_request(client, hook.url(), title="Deploy?")
    page = await client.get(f"/requests/{request['id']}")
    assert page.status_code == 200 and "external request" in page.text
    assert "Webhook deliveries" not in page.text  # nothing sent yet

    assert (await respond(client, request["id"], {"decision": "approve"})).status_code == 200
    [first] = await hook.wait_for(1)
    await until(client, f"/api/v1/requests/{request['id']}", "callback_state", "succeeded")
    page = await client.get(f"/requests/{request['id']}")
    assert "Webhook deliveries" in page.text and first.webhook_id in page.text

    r = await client.post(f"/requests/{request['id']}/deliveries/{first.webhook_id}/redeliver")
    assert r.status_code == 303
    _, again = await hook.wait_for(2)
    assert again.webhook_id == first.webhook_id


async def test_inbox_search_finds_answered_external_requests(
    client: httpx.AsyncClient, hook: Receiver
) -> None:
    await register(client, hook.url(), [])
    request = await external_request(client, hook.url(), title="Deploy the search fix?")
    assert (await respond(client, request["id"], {"decision": "approve"})).status_code == 200
    await until(client, f"/api/v1/requests/{request['id']}", "callback_state", "succeeded")
    for words in ("search fix", "ship it"):  # its title, and the context it asks about
        page = await client.get("/", params={"state": "all", "q": words})
        assert page.status_code == 200
        assert "Deploy the search fix?" in page.text
