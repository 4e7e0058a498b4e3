"""Forged callbacks: two agents, A and B, each with its own API key and webhook endpoint.

A must not be able to have the service sign an answer with B's endpoint secret (the service
refuses to call back an endpoint the request's creator does not own, unless an admin shared it),
and B's SDK receiver resumes only requests B created, even for a validly signed callback.
Endpoints and their deliveries are seen by their owner (and admins) only.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from standardwebhooks import Webhook, WebhookVerificationError

from hitl.agents.base import Agent
from hitl.bus import Bus, Event
from hitl.config import Settings
from hitl.sdk import HITLClient
from hitl.sdk.created import SQLiteCreatedRequests
from hitl.sdk.receiver import (
    CallbackRefused,
    SQLiteDedupeStore,
    WebhookMessage,
    WebhookReceiver,
)
from hitl.webhooks import signing
from tests.support import webhooks
from tests.support.receiver import Receiver, Served

DEFAULT_ANSWER = {"action": "default", "value": {"decision": "approve"}}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return webhooks.delivering_locally(settings, webhook_retry_schedule="0,0.2,0.2")


@dataclass
class Principal:
    """An agent's key, its subject (``key:<id>``) and a client that sends the key."""

    name: str
    subject: str
    http: httpx.AsyncClient


@pytest.fixture
async def agents(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> tuple[Principal, Principal]:
    made = []
    for name in ("agent-a", "agent-b"):
        body = {"name": name, "scopes": ["requests:write", "requests:read", "webhooks:admin"]}
        r = await client.post("/api/v1/apikeys", json=body)
        assert r.status_code == 201, r.text
        made.append(Principal(f"key:{name}", f"key:{r.json()['id']}", client_for(r.json()["key"])))
    return made[0], made[1]


async def register(who: httpx.AsyncClient, url: str, **extra: Any) -> dict[str, Any]:
    r = await who.post("/api/v1/webhooks", json={"url": url, "events": [], **extra})
    assert r.status_code == 201, r.text
    return dict(r.json())


def ask(callback: str, workflow_id: str = "wf-b", **extra: Any) -> dict[str, Any]:
    """An external request answered by its deadline a second from now, with "approve"."""
    return {
        "workflow_id": workflow_id,
        "callback_webhook": callback,
        "context": {"q": "ship it?"},
        "timeout_seconds": 1,
        "on_timeout": DEFAULT_ANSWER,
        **extra,
    }


async def count(client: httpx.AsyncClient, table: str) -> int:
    query = {"requests": "hitl_requests", "deliveries": "hitl_webhook_deliveries"}[table]
    async with client.service.pool.connection() as conn:  # type: ignore[attr-defined]
        cur = await conn.execute(f"SELECT count(*) AS n FROM {query}")
        row = await cur.fetchone()
    assert row is not None
    return int(row["n"])


async def settled_callback(
    client: httpx.AsyncClient, request_id: str, timeout: float = 20
) -> dict[str, Any]:
    """The request's callback delivery once it has had an attempt (as the admin sees it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = (await client.get(f"/api/v1/requests/{request_id}/deliveries")).json()
        callbacks = [d for d in found if d["kind"] == "callback" and d["attempt_log"]]
        if callbacks:
            return dict(callbacks[0])
        assert loop.time() < deadline, found
        await asyncio.sleep(0.05)


async def test_an_agent_cannot_have_the_service_call_another_agents_endpoint(
    client: httpx.AsyncClient, agents: tuple[Principal, Principal]
) -> None:
    a, b = agents
    async with Receiver() as hook_b:
        b_endpoint = await register(b.http, hook_b.url())
        assert (b_endpoint["owner"], b_endpoint["owner_name"]) == (b.subject, b.name)
        assert b_endpoint["shared_with"] == []

        forged = await a.http.post("/api/v1/requests", json=ask(hook_b.url()))
        assert forged.status_code == 422
        [problem] = forged.json()["detail"]
        assert problem["loc"] == ["body", "callback_webhook"]
        assert "yours or shared with you" in problem["msg"]
        # The same words as for a URL nobody registered: whether B's endpoint exists is not told.
        unknown = await a.http.post("/api/v1/requests", json=ask("http://127.0.0.1:9/nobody"))
        assert unknown.status_code == 422 and unknown.json() == forged.json()
        keyed = await a.http.post(
            "/api/v1/requests", json=ask(hook_b.url()), headers={"Idempotency-Key": "k-1"}
        )
        assert keyed.status_code == 422 and keyed.json() == forged.json()
        assert await count(client, "requests") == 0
        assert await count(client, "deliveries") == 0

        # A may register B's URL for itself: its own endpoint, its own secret, which B's
        # receiver does not know. The callback goes out signed with A's secret only.
        a_endpoint = await register(a.http, hook_b.url())
        created = await a.http.post("/api/v1/requests", json=ask(hook_b.url()))
        assert created.status_code == 201, created.text
        [message] = await hook_b.wait_for(1)
        with pytest.raises(WebhookVerificationError):
            Webhook(b_endpoint["secret"]).verify(message.body, message.headers)
        payload = Webhook(a_endpoint["secret"]).verify(message.body, message.headers)
        assert payload["request_id"] == created.json()["id"]
        assert payload["created_by"] == a.name and payload["created_by_subject"] == a.subject
        assert payload["responded_by"] == "system:timeout"
        assert payload["response"] == {"decision": "approve"}
        sent = await client.get(f"/api/v1/requests/{created.json()['id']}/deliveries")
        assert [d["endpoint_id"] for d in sent.json()] == [a_endpoint["id"]]


async def test_endpoints_and_deliveries_are_their_owners(
    client: httpx.AsyncClient, agents: tuple[Principal, Principal]
) -> None:
    a, b = agents
    a_endpoint = await register(a.http, "https://a.example/hook")
    b_endpoint = await register(b.http, "https://b.example/hook")
    admins = await register(client, "https://admin.example/hook")
    assert admins["owner"] == "key:1" and admins["owner_name"] == "key:tests"

    def ids(page: httpx.Response) -> list[str]:
        assert page.status_code == 200, page.text
        return [e["id"] for e in page.json()["items"]]

    assert ids(await a.http.get("/api/v1/webhooks")) == [a_endpoint["id"]]
    assert ids(await b.http.get("/api/v1/webhooks")) == [b_endpoint["id"]]
    assert ids(await client.get("/api/v1/webhooks")) == [
        admins["id"],
        b_endpoint["id"],
        a_endpoint["id"],
    ]
    other = f"/api/v1/webhooks/{b_endpoint['id']}"
    for method, path, body in [
        ("GET", other, None),
        ("PATCH", other, {"enabled": False}),
        ("POST", f"{other}/rotate-secret", None),
        ("GET", f"{other}/deliveries", None),
        ("DELETE", other, None),
    ]:
        r = await a.http.request(method, path, json=body)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["detail"] == f"webhook endpoint {b_endpoint['id']!r} not found"
    shown = (await client.get(other)).json()
    assert shown["enabled"] and shown["previous_secret_expires_at"] is None  # untouched
    mine = await a.http.patch(f"/api/v1/webhooks/{a_endpoint['id']}", json={"enabled": False})
    assert mine.status_code == 200 and not mine.json()["enabled"]
    await a.http.patch(f"/api/v1/webhooks/{a_endpoint['id']}", json={"enabled": True})

    # Only an admin shares; with principals that exist.
    for who, path in ((a, "/api/v1/webhooks"), (b, other)):
        method = "POST" if path.endswith("webhooks") else "PATCH"
        body = {"url": "https://x.example/", "events": []} if method == "POST" else {}
        r = await who.http.request(method, path, json={**body, "shared_with": [a.subject]})
        assert r.status_code == 403 and "shared_with" in r.json()["detail"], r.text
    r = await client.patch(other, json={"shared_with": ["key:999999", "bogus"]})
    assert r.status_code == 422
    assert {tuple(e["loc"]) for e in r.json()["detail"]} == {("body", "shared_with", 1)}
    r = await client.patch(other, json={"shared_with": ["key:999999"]})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "shared_with", 0]
    assert (await client.get(other)).json()["shared_with"] == []

    # Before the share, A may not call back B's endpoint (nor the admins'); after it, it may.
    other_url = b_endpoint["url"]
    assert (await a.http.post("/api/v1/requests", json=ask(other_url))).status_code == 422
    assert (await a.http.post("/api/v1/requests", json=ask(admins["url"]))).status_code == 422
    shared = await client.patch(other, json={"shared_with": [a.subject]})
    assert shared.status_code == 200 and shared.json()["shared_with"] == [a.subject]
    assert ids(await a.http.get("/api/v1/webhooks")) == [a_endpoint["id"]]  # shared, not A's
    created = await a.http.post(
        "/api/v1/requests", json=ask(other_url, timeout_seconds=3600, on_timeout=None)
    )
    assert created.status_code == 201, created.text
    assert created.json()["created_by"] == a.name
    request_id = created.json()["id"]
    r = await client.post(f"/api/v1/requests/{request_id}/respond", json={"response": "yes"})
    assert r.status_code == 200, r.text

    # The callback went to B's endpoint: B (its owner) and the admins see the delivery, A not.
    admin_view = await settled_callback(client, request_id)
    assert admin_view["endpoint_id"] == b_endpoint["id"]
    b_view = (await b.http.get(f"/api/v1/requests/{request_id}/deliveries")).json()
    assert [d["id"] for d in b_view] == [admin_view["id"]]
    assert (await a.http.get(f"/api/v1/requests/{request_id}/deliveries")).json() == []
    delivery = f"/api/v1/deliveries/{admin_view['id']}"
    assert (await b.http.get(delivery)).status_code == 200
    assert (await a.http.get(delivery)).status_code == 404
    assert (await a.http.post(f"{delivery}/redeliver")).status_code == 404
    assert (await b.http.post(f"{delivery}/redeliver")).status_code == 202

    # '*' shares with every caller; an owner may clear the sharing, not set it.
    everyone = await client.patch(other, json={"shared_with": ["*"]})
    assert everyone.json()["shared_with"] == ["*"]
    cleared = await b.http.patch(other, json={"shared_with": []})
    assert cleared.status_code == 200 and cleared.json()["shared_with"] == []
    assert (await a.http.post("/api/v1/requests", json=ask(other_url))).status_code == 422


async def test_an_endpoint_from_before_owners_belongs_to_the_admins(
    client: httpx.AsyncClient, agents: tuple[Principal, Principal]
) -> None:
    a, _ = agents
    async with client.service.pool.connection() as conn:  # type: ignore[attr-defined]
        cur = await conn.execute(
            "INSERT INTO hitl_webhook_endpoints (url, events, secret) "
            "VALUES ('https://legacy.example/hook', '{}', 'whsec_x') RETURNING id"
        )
        row = await cur.fetchone()
    assert row is not None
    legacy = str(row["id"])
    assert (await client.get(f"/api/v1/webhooks/{legacy}")).json()["owner"] is None
    assert (await a.http.get(f"/api/v1/webhooks/{legacy}")).status_code == 404
    assert (await a.http.get("/api/v1/webhooks")).json()["items"] == []
    body = ask("https://legacy.example/hook", timeout_seconds=3600, on_timeout=None)
    assert (await a.http.post("/api/v1/requests", json=body)).status_code == 422
    assert (await client.post("/api/v1/requests", json=body)).status_code == 201
    await client.patch(f"/api/v1/webhooks/{legacy}", json={"shared_with": [a.subject]})
    assert (await a.http.post("/api/v1/requests", json=body)).status_code == 201


async def test_the_sdk_receiver_refuses_a_signed_callback_for_a_request_it_did_not_create(
    client: httpx.AsyncClient, agents: tuple[Principal, Principal], tmp_path: Path
) -> None:
    a, b = agents
    handled: list[dict[str, Any]] = []

    async def resume(payload: Any, message: WebhookMessage) -> None:
        handled.append(payload)

    created_by_b = SQLiteCreatedRequests(tmp_path / "b-created.db")
    holder: dict[str, WebhookReceiver] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await holder["receiver"](scope, receive, send)

    async with Served(app) as served, HITLClient(http=b.http, created=created_by_b) as sdk_b:
        b_endpoint = await register(b.http, served.url())
        holder["receiver"] = WebhookReceiver(
            b_endpoint["secret"],
            resume,
            store=SQLiteDedupeStore(tmp_path / "b-dedupe.db"),
            requests=created_by_b,
        )
        # An admin shares B's endpoint with A by mistake: the service now lets A name it, and
        # signs A's deadline answer with B's secret. B's receiver is the last line.
        await client.patch(
            f"/api/v1/webhooks/{b_endpoint['id']}", json={"shared_with": [a.subject]}
        )
        forged = await a.http.post("/api/v1/requests", json=ask(served.url(), "wf-b"))
        assert forged.status_code == 201, forged.text
        own = await sdk_b.create_request(
            "wf-b", served.url(), {"q": "mine"}, timeout_seconds=1, on_timeout=DEFAULT_ANSWER
        )
        assert await created_by_b.workflow_of(own["id"]) == "wf-b"

        refused = await settled_callback(client, forged.json()["id"])
        first = refused["attempt_log"][0]
        assert (first["outcome"], first["status_code"]) == ("failed", 403)
        assert (
            f"callback refused: request '{forged.json()['id']}' was not created by this agent"
            in first["response_excerpt"]
        )
        assert refused["payload"]["responded_by"] == "system:timeout"
        assert refused["payload"]["created_by_subject"] == a.subject

        taken = await settled_callback(client, own["id"])
        assert taken["attempt_log"][0]["status_code"] == 204
    [payload] = handled
    assert payload["request_id"] == own["id"]
    assert payload["metadata"]["workflow_id"] == "wf-b"
    assert payload["response"] == {"decision": "approve"}
    assert payload["responded_by"] == "system:timeout"
    assert (payload["created_by"], payload["created_by_subject"]) == (b.name, b.subject)


async def test_an_oversized_body_gets_413_from_the_sdk_receiver(tmp_path: Path) -> None:
    async def never(payload: Any, message: WebhookMessage) -> None:
        raise AssertionError("not handled")

    secret = signing.new_secret()
    receiver = WebhookReceiver(
        secret,
        never,
        store=SQLiteDedupeStore(tmp_path / "d.db"),
        requests=SQLiteCreatedRequests(tmp_path / "c.db"),
        max_body_bytes=64 * 1024,
    )
    body = "x" * (3 * 1024 * 1024)
    async with Served(receiver) as served, httpx.AsyncClient(timeout=30) as http:
        headers = signing.headers([secret], "m1", 0, "")
        r = await http.post(served.url(), content=body.encode(), headers=headers)
        assert r.status_code == 413
        assert r.json() == {"detail": "the body is larger than 65536 bytes"}


class Asker(Agent):
    name = "asker"
    subscribes = ("asker.go",)

    async def handle(self, event: Event) -> None:
        raise NotImplementedError


async def test_an_agent_records_the_requests_it_creates_in_its_redis(
    client: httpx.AsyncClient, redis_url: str, bus_prefix: str, tmp_path: Path
) -> None:
    endpoint = await register(client, "https://agent.example/hook")
    redis = Redis.from_url(redis_url)
    handled: list[str] = []

    async def resume(payload: Any, message: WebhookMessage) -> None:
        handled.append(payload["request_id"])

    try:
        async with HITLClient(http=client) as sdk:
            agent = Asker(Bus(redis, prefix=bus_prefix), sdk)
            request = await agent.create_request(
                "wf-agent", endpoint["url"], {"q": 1}, idempotency_key="ask-1"
            )
            # Another process of the same agent (the one serving its webhook) knows it too.
            twin = Asker(Bus(redis, prefix=bus_prefix), sdk)
            assert await twin.created.workflow_of(request["id"]) == "wf-agent"
            receiver = twin.webhook_receiver(
                endpoint["secret"], resume, store=SQLiteDedupeStore(tmp_path / "d.db")
            )

            def callback(request_id: str, msg_id: str) -> tuple[bytes, dict[str, str]]:
                body = json.dumps(
                    {
                        "event": "request.responded",
                        "request_id": request_id,
                        "metadata": {"workflow_id": "wf-agent"},
                        "response": 1,
                    }
                )
                now = int(time.time())
                return body.encode(), signing.headers([endpoint["secret"]], msg_id, now, body)

            assert await receiver.receive(*callback(request["id"], "m1")) == "handled"
            with pytest.raises(CallbackRefused, match="not created by this agent"):
                await receiver.receive(*callback("00000000-0000-0000-0000-000000000000", "m2"))
            assert handled == [request["id"]]
    finally:
        await redis.aclose()
