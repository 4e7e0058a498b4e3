"""Lifecycle events that no answer causes: cancellation by a failed run, expiry by the deadline,
and an endpoint disabled for failing too long. Each reaches subscribers through the outbox."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hitl.config import Settings
from tests.integration.test_webhooks import external_request, register, until
from tests.support import auth, webhooks
from tests.support.api import pending, respond, settle, start
from tests.support.receiver import Receiver


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return webhooks.delivering_locally(settings)


async def events_of(client: httpx.AsyncClient, type_: str) -> list[dict[str, Any]]:
    async with client.service.pool.connection() as conn:  # type: ignore[attr-defined]
        cur = await conn.execute(
            "SELECT data FROM hitl_events WHERE type = %s ORDER BY id", (type_,)
        )
        return [r["data"] for r in await cur.fetchall()]


async def test_a_failed_run_cancels_the_pending_request_with_its_event(
    client: httpx.AsyncClient, hook: Receiver
) -> None:
    await register(client, hook.url(), ["request.cancelled"])
    thread_id = await start(client, "parallel_failing", {})
    assert (await settle(client, thread_id))["status"] == "interrupted"
    by_side = {r["value"]["side"]: r for r in await pending(client, thread_id)}
    assert set(by_side) == {"left", "right"}

    assert (await respond(client, by_side["left"]["id"], "fail")).status_code == 200
    assert (await settle(client, thread_id))["status"] == "failed"
    right = (await client.get(f"/api/v1/requests/{by_side['right']['id']}")).json()
    assert right["state"] == "cancelled"

    [message] = await hook.wait_for(1)
    assert message.json["type"] == "request.cancelled"
    data = message.json["data"]
    assert data["request_id"] == right["id"] and data["thread_id"] == thread_id
    assert data["interrupt_id"] == right["interrupt_id"] and data["graph"] == "parallel_failing"
    assert message.webhook_id in {
        d["id"] for d in (await client.get(f"/api/v1/requests/{right['id']}/deliveries")).json()
    }
    # Only the cancelled request has the event: the answered one was closed, not cancelled.
    assert [e["request_id"] for e in await events_of(client, "request.cancelled")] == [right["id"]]


async def test_a_superseded_request_has_no_cancelled_event(
    client: httpx.AsyncClient, hook: Receiver
) -> None:
    await register(client, hook.url(), ["request.cancelled", "thread.completed"])
    thread_id = await start(client, "approval", {})
    [request] = (await settle(client, thread_id))["interrupts"]
    assert (
        await respond(client, request["request_id"], {"decision": "approve"})
    ).status_code == 200
    assert (await settle(client, thread_id))["status"] == "completed"
    [message] = await hook.wait_for(1)
    assert message.json["type"] == "thread.completed"
    assert await events_of(client, "request.cancelled") == []


async def test_an_external_request_past_its_deadline_expires_with_its_event(
    client: httpx.AsyncClient, hook: Receiver
) -> None:
    await register(client, hook.url(), [])  # the request's callback
    async with Receiver() as subscriber:
        await register(client, subscriber.url(), ["request.expired"])
        request = await external_request(client, hook.url(), timeout_seconds=1)
        [message] = await subscriber.wait_for(1, timeout=15)
    assert message.json["type"] == "request.expired"
    [callback] = await hook.wait_for(1, timeout=15)  # its creator is told too (0023)
    assert callback.json["event"] == "request.expired"
    assert callback.json["request_id"] == request["id"]
    data = message.json["data"]
    assert data["request_id"] == request["id"] and data["kind"] == "external"
    assert data["workflow_id"] == "wf-1" and data["checkpoint_id"] == "cp-1"
    shown = (await client.get(f"/api/v1/requests/{request['id']}")).json()
    assert shown["state"] == "expired"
    late = await respond(client, request["id"], {"decision": "approve"})
    assert late.status_code == 409 and late.json()["detail"]["state"] == "expired"


async def test_an_endpoint_failing_too_long_is_disabled_with_an_event(
    settings: Settings,
) -> None:
    from hitl.api import create_app

    quick = {"webhook_disable_after_seconds": 0.5, "webhook_retry_schedule": "0,0.4,0.4,0.4,0.4"}
    app = create_app(settings.model_copy(update=quick))
    async with (
        Receiver(default=500) as hook,
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hitl", headers=auth.BEARER
        ) as c,
    ):
        c.service = app.state.service  # type: ignore[attr-defined]
        endpoint = await register(c, hook.url(), ["request.created"])
        await external_request(c, hook.url())
        shown = await until(c, f"/api/v1/webhooks/{endpoint['id']}", "enabled", False)
        assert shown["disabled_reason"] == "failing without a success for too long"
        [event] = await events_of(c, "webhook.endpoint_disabled")
        assert event == {
            "endpoint_id": endpoint["id"],
            "url": hook.url(),
            "reason": "failing without a success for too long",
        }
        # The attempt that crossed the limit left the delivery pending; the next one finds the
        # endpoint disabled, sends nothing and fails the delivery before the schedule runs out.
        webhook_id = hook.received[0].webhook_id
        delivery = await until(c, f"/api/v1/deliveries/{webhook_id}", "state", "failed")
        sent = len(hook.received)
        assert 2 <= sent < 5
        log = delivery["attempt_log"]
        assert [a["status_code"] for a in log[:sent]] == [500] * sent
        assert [a["outcome"] for a in log[sent:]] == ["error"]
        assert "disabled" in log[-1]["error"]
        # A disabled endpoint is no callback for new requests.
        r = await c.post(
            "/api/v1/requests",
            json={"workflow_id": "wf", "callback_webhook": hook.url(), "context": {}},
        )
        assert r.status_code == 422
