"""Endpoint management, validation, rotation, 410 / Retry-After, redelivery, SSRF blocking."""

from __future__ import annotations

import time
from typing import Any

import httpx
import psycopg
import pytest
from standardwebhooks import Webhook

from hitl.config import Settings
from tests.integration.test_webhooks import external_request, register, until
from tests.support import auth, webhooks
from tests.support.api import respond
from tests.support.receiver import Receiver


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return webhooks.delivering_locally(settings)


async def test_crud_and_errors(client: httpx.AsyncClient) -> None:
    created = await register(client, "https://hooks.example.com/a", ["request.created"])
    assert created["secret"].startswith("whsec_") and created["enabled"] is True
    one = (await client.get(f"/api/v1/webhooks/{created['id']}")).json()
    assert "secret" not in one and one["events"] == ["request.created"]
    assert [e["id"] for e in (await client.get("/api/v1/webhooks")).json()["items"]] == [
        created["id"]
    ]

    r = await client.patch(
        f"/api/v1/webhooks/{created['id']}", json={"events": ["*"], "enabled": False}
    )
    assert r.status_code == 200 and r.json()["events"] == ["*"] and not r.json()["enabled"]

    bad = await client.post("/api/v1/webhooks", json={"url": "ftp://x/", "events": ["nope"]})
    assert bad.status_code == 422
    locs = {tuple(e["loc"]): e["msg"] for e in bad.json()["detail"]}
    assert "http or https" in locs[("body", "url")]
    assert "unknown event type 'nope'" in locs[("body", "events")]
    bad = await client.patch(f"/api/v1/webhooks/{created['id']}", json={"events": ["x"]})
    assert bad.status_code == 422
    assert (await client.get(f"/api/v1/webhooks/{created['id']}")).json()["events"] == ["*"]

    for path in ("/api/v1/webhooks/nope", f"/api/v1/webhooks/{'0' * 8}-0000-0000-0000-{'0' * 12}"):
        r = await client.get(path)
        assert r.status_code == 404 and "not found" in r.json()["detail"]
    assert (await client.post("/api/v1/deliveries/nope/redeliver")).status_code == 404
    assert (await client.get("/api/v1/requests/nope/deliveries")).status_code == 404

    rotated = (await client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret")).json()
    assert rotated["secret"] != created["secret"] and rotated["previous_secret_expires_at"]
    assert (await client.delete(f"/api/v1/webhooks/{created['id']}")).status_code == 204
    assert (await client.get(f"/api/v1/webhooks/{created['id']}")).status_code == 404


async def test_external_request_validation_changes_nothing(client: httpx.AsyncClient) -> None:
    body: dict[str, Any] = {
        "workflow_id": "wf",
        "callback_webhook": "http://127.0.0.1:9/unregistered",
        "context": {},
        "response_schema": {"type": "no-such-type"},
    }
    r = await client.post("/api/v1/requests", json=body)
    assert r.status_code == 422
    locs = {tuple(e["loc"][:2]): e["msg"] for e in r.json()["detail"]}
    assert "no enabled webhook endpoint" in locs[("body", "callback_webhook")]
    assert ("body", "response_schema") in locs
    r = await client.post("/api/v1/requests", json={**body, "callback_webhook": "file:///x"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "callback_webhook"]
    assert (await client.get("/api/v1/requests")).json()["items"] == []


async def test_rotation_signs_with_both_secrets_in_the_grace_period(
    client: httpx.AsyncClient,
) -> None:
    async with Receiver() as hook:
        endpoint = await register(client, hook.url(), [])
        rotated = (await client.post(f"/api/v1/webhooks/{endpoint['id']}/rotate-secret")).json()
        request = await external_request(client, hook.url())
        assert (await respond(client, request["id"], {"decision": "approve"})).status_code == 200
        [message] = await hook.wait_for(1)
    assert len(message.headers["webhook-signature"].split(" ")) == 2
    for secret in (endpoint["secret"], rotated["secret"]):
        assert Webhook(secret).verify(message.body, message.headers)["request_id"] == request["id"]


async def test_410_disables_the_endpoint_and_says_so(client: httpx.AsyncClient) -> None:
    async with Receiver(script=[410]) as hook:
        endpoint = await register(client, hook.url(), ["request.created"])
        await external_request(client, hook.url())
        await hook.wait_for(1)
        shown = await until(client, f"/api/v1/webhooks/{endpoint['id']}", "enabled", False)
    assert "410" in shown["disabled_reason"]
    [delivery] = (await client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries")).json()["items"]
    assert delivery["state"] == "failed" and delivery["attempts"] == 1
    async with client.service.pool.connection() as conn:  # type: ignore[attr-defined]
        cur = await conn.execute(
            "SELECT data FROM hitl_events WHERE type = 'webhook.endpoint_disabled'"
        )
        assert [r["data"]["endpoint_id"] for r in await cur.fetchall()] == [endpoint["id"]]


async def test_429_waits_for_retry_after_then_redeliver_keeps_the_id(
    client: httpx.AsyncClient,
) -> None:
    async with Receiver(script=[(429, {"retry-after": "2"})]) as hook:
        await register(client, hook.url(), ["request.created"])
        await external_request(client, hook.url())
        first, second = await hook.wait_for(2, timeout=10)
        assert second.at - first.at >= 1.9  # not the schedule's 0.2 s
        assert first.webhook_id == second.webhook_id
        delivery = await until(
            client, f"/api/v1/deliveries/{first.webhook_id}", "state", "succeeded"
        )
        r = await client.post(f"/api/v1/deliveries/{delivery['id']}/redeliver")
        assert r.status_code == 202
        third = (await hook.wait_for(3))[2]
    assert third.webhook_id == first.webhook_id and third.body == first.body
    delivery = await until(client, f"/api/v1/deliveries/{first.webhook_id}", "attempts", 3)
    assert [a["status_code"] for a in delivery["attempt_log"]] == [429, 200, 200]


@pytest.mark.parametrize("allow", [""])
async def test_private_addresses_are_blocked_and_logged(
    database_url: str, redis_url: str, bus_prefix: str, allow: str
) -> None:
    from hitl.api import create_app
    from tests.support.api import GRAPH_MODULES

    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        bus_prefix=bus_prefix,
        graphs=GRAPH_MODULES,
        poll_interval=0.2,
        webhook_allow_networks=allow,
        webhook_retry_schedule="0",
    )
    app = create_app(settings)
    urls = [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9/hook",
        "http://[::ffff:127.0.0.1]:9/hook",
        "http://10.0.0.1/hook",
        "http://100.64.0.1/hook",
    ]
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hitl", headers=auth.BEARER
        ) as c,
    ):
        ids = [(await register(c, url, ["request.created"]))["id"] for url in urls]
        await external_request(c, urls[0])
        deadline = time.monotonic() + 10
        for endpoint_id in ids:
            while True:
                page = (await c.get(f"/api/v1/webhooks/{endpoint_id}/deliveries")).json()
                items = page["items"]
                if (items and items[0]["state"] == "failed") or time.monotonic() > deadline:
                    break
            [delivery] = items
            [attempt] = delivery["attempt_log"]
            assert attempt["outcome"] == "blocked", attempt
            assert "blocked" in attempt["error"] and attempt["status_code"] is None
    with psycopg.connect(database_url) as conn:
        outcomes = conn.execute("SELECT DISTINCT outcome FROM hitl_webhook_attempts").fetchall()
    assert outcomes == [("blocked",)]
