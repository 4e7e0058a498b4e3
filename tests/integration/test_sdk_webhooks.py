"""The SDK's webhook calls: endpoints, external requests (with ``Idempotency-Key``), deliveries
and redelivery, against the in-process service and a real receiver (and, for the sync client,
a mock transport)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypedDict

import httpx
import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.types import interrupt
from standardwebhooks import Webhook

from hitl.config import Settings
from hitl.sdk import (
    ConflictError,
    HITLClient,
    InvalidInputError,
    NotFoundError,
    RequestEnded,
    SQLiteCreatedRequests,
    SQLiteDedupeStore,
    SyncHITLClient,
    WebhookMessage,
    WebhookReceiver,
    resume_from_webhook,
)
from hitl.sdk.types import Delivery
from hitl.webhooks import signing
from tests.support import webhooks
from tests.support.receiver import Receiver, Served

SCHEMA = {
    "type": "object",
    "properties": {"decision": {"enum": ["approve", "reject"]}},
    "required": ["decision"],
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return webhooks.delivering_locally(settings, webhook_retry_schedule="0,0.2,0.2")


@pytest.fixture
async def hitl(client: httpx.AsyncClient) -> AsyncIterator[HITLClient]:
    async with HITLClient(http=client) as sdk:
        yield sdk


async def test_endpoint_lifecycle(hitl: HITLClient) -> None:
    created = await hitl.create_webhook(
        "https://hooks.example.com/a", ["request.created"], description="ops"
    )
    assert created["secret"].startswith("whsec_") and created["description"] == "ops"
    one = await hitl.get_webhook(created["id"])
    assert "secret" not in one and one["events"] == ["request.created"] and one["enabled"]
    assert (one["owner"], one["owner_name"], one["shared_with"]) == ("key:1", "key:tests", [])

    second = await hitl.create_webhook("https://hooks.example.com/b", ["*"])
    first_page = await hitl.list_webhooks(limit=1)
    assert [e["id"] for e in first_page["items"]] == [second["id"]]
    assert first_page["next_cursor"]
    rest = await hitl.list_webhooks(limit=1, cursor=first_page["next_cursor"])
    assert [e["id"] for e in rest["items"]] == [created["id"]]

    changed = await hitl.update_webhook(created["id"], events=["*"], enabled=False)
    assert changed["events"] == ["*"] and not changed["enabled"]
    assert changed["description"] == "ops"  # not given, so unchanged
    again = await hitl.update_webhook(created["id"], enabled=True)
    assert again["enabled"] and again["disabled_reason"] is None
    shared = await hitl.update_webhook(created["id"], shared_with=["*", "*"])
    assert shared["shared_with"] == ["*"]
    assert (await hitl.update_webhook(created["id"], shared_with=[]))["shared_with"] == []
    third = await hitl.create_webhook("https://hooks.example.com/c", [], shared_with=["key:1"])
    assert third["shared_with"] == ["key:1"]
    await hitl.delete_webhook(third["id"])

    rotated = await hitl.rotate_webhook_secret(created["id"])
    assert rotated["secret"] != created["secret"] and rotated["previous_secret_expires_at"]

    with pytest.raises(InvalidInputError) as bad:
        await hitl.create_webhook("ftp://x/", ["nope"])
    assert {tuple(e["loc"]) for e in bad.value.errors} == {("body", "url"), ("body", "events")}

    assert await hitl.delete_webhook(created["id"]) is None
    for call in (hitl.get_webhook, hitl.delete_webhook, hitl.rotate_webhook_secret):
        with pytest.raises(NotFoundError):
            await call(created["id"])
    with pytest.raises(NotFoundError):
        await hitl.webhook_deliveries(created["id"])


async def test_external_request_callback_deliveries_and_redelivery(hitl: HITLClient) -> None:
    async with Receiver() as hook:
        endpoint = await hitl.create_webhook(hook.url(), [])
        request = await hitl.create_request(
            "wf-1",
            hook.url(),
            {"question": "ship it?"},
            checkpoint_id="cp-1",
            title="Deploy?",
            response_schema=SCHEMA,
            timeout_seconds=3600,
            metadata={"ticket": "T-1"},
        )
        assert request["kind"] == "external" and request["state"] == "pending"
        assert request["title"] == "Deploy?" and request["metadata"] == {"ticket": "T-1"}
        assert request["expires_at"] is not None
        assert await hitl.request_deliveries(request["id"]) == []

        with pytest.raises(InvalidInputError):
            await hitl.respond(request["id"], {"decision": "maybe"})
        await hitl.respond(request["id"], {"decision": "approve"})
        [message] = await hook.wait_for(1)
        payload = Webhook(endpoint["secret"]).verify(message.body, message.headers)
        assert (
            payload["response"] == {"decision": "approve"}
            and payload["responded_by"] == "key:tests"
        )

        [delivery] = await hitl.request_deliveries(request["id"])
        assert delivery["id"] == message.webhook_id and delivery["kind"] == "callback"
        assert delivery["payload"] == payload

        again = await hitl.redeliver(delivery["id"])
        assert again["id"] == delivery["id"]
        _, second = await hook.wait_for(2)
        assert second.webhook_id == message.webhook_id and second.body == message.body

        for _ in range(200):  # the second attempt is logged just after it is sent
            seen = await hitl.get_delivery(delivery["id"])
            if seen["attempts"] == 2 and seen["state"] == "succeeded":
                break
            await asyncio.sleep(0.05)
        assert [a["status_code"] for a in seen["attempt_log"]] == [200, 200]
        assert [a["outcome"] for a in seen["attempt_log"]] == ["succeeded", "succeeded"]
        page = await hitl.webhook_deliveries(endpoint["id"], limit=10)
        assert [d["id"] for d in page["items"]] == [delivery["id"]]
        assert page["next_cursor"] is None

    with pytest.raises(NotFoundError):
        await hitl.get_delivery("nope")
    with pytest.raises(NotFoundError):
        await hitl.redeliver("nope")
    with pytest.raises(NotFoundError):
        await hitl.request_deliveries("nope")


async def test_create_request_with_an_idempotency_key_replays(hitl: HITLClient) -> None:
    await hitl.create_webhook("https://hooks.example.com/cb", [])
    first = await hitl.create_request(
        "wf-2", "https://hooks.example.com/cb", {"q": 1}, idempotency_key="k-1"
    )
    replay = await hitl.create_request(
        "wf-2", "https://hooks.example.com/cb", {"q": 1}, idempotency_key="k-1"
    )
    assert replay == first
    assert len((await hitl.list_requests())["items"]) == 1
    with pytest.raises(InvalidInputError) as changed:
        await hitl.create_request(
            "wf-2", "https://hooks.example.com/cb", {"q": 2}, idempotency_key="k-1"
        )
    assert changed.value.errors[0]["loc"] == ["header", "Idempotency-Key"]

    answered = await hitl.respond(first["id"], "yes", idempotency_key="a-1")
    assert await hitl.respond(first["id"], "yes", idempotency_key="a-1") == answered
    with pytest.raises(ConflictError) as late:
        await hitl.respond(first["id"], "yes")
    assert late.value.state == "responded"

    with pytest.raises(InvalidInputError) as unregistered:
        await hitl.create_request("wf-3", "https://elsewhere.example.com/", {})
    assert unregistered.value.errors[0]["loc"] == ["body", "callback_webhook"]


class Decision(TypedDict, total=False):
    task: str
    decision: Any


def agent_graph() -> Any:
    """The agent's own graph (its own checkpointer): it waits at ``interrupt()`` for a person."""

    def wait(state: Decision) -> Decision:
        return {"decision": interrupt({"task": state["task"]})}

    builder = StateGraph(Decision)
    builder.add_node("wait", wait)
    builder.add_edge(START, "wait")
    return builder.compile(checkpointer=InMemorySaver())


async def settled_callback(hitl: HITLClient, request_id: str) -> Delivery:
    """The request's callback once an attempt of it has been logged."""
    for _ in range(400):
        found = [d for d in await hitl.request_deliveries(request_id) if d["kind"] == "callback"]
        if found and found[0]["state"] in ("succeeded", "failed") and found[0]["attempt_log"]:
            return found[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no callback settled for request {request_id}: {found}")


async def test_resume_from_webhook_acknowledges_requests_that_ended_unanswered(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    # An agent that hands every callback to resume_from_webhook: an answer resumes its graph; a
    # withdrawal or an expiry is a RequestEnded, acknowledged once (204), not retried forever.
    graph = agent_graph()
    created = SQLiteCreatedRequests(tmp_path / "created.db")
    results: list[Any] = []

    async def handler(payload: Any, message: WebhookMessage) -> None:
        results.append(await resume_from_webhook(graph, payload))

    holder: dict[str, WebhookReceiver] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await holder["receiver"](scope, receive, send)

    async with Served(app) as served, HITLClient(http=client, created=created) as hitl:
        endpoint = await hitl.create_webhook(served.url(), [])
        holder["receiver"] = WebhookReceiver(
            endpoint["secret"],
            handler,
            store=SQLiteDedupeStore(tmp_path / "dedupe.db"),
            requests=created,
        )
        asked = {}
        for workflow, terms in (
            ("wf-answered", {"timeout_seconds": 3600}),
            ("wf-withdrawn", {"timeout_seconds": 3600}),
            ("wf-expired", {"timeout_seconds": 1, "on_timeout": {"action": "expire"}}),
        ):
            await graph.ainvoke({"task": workflow}, {"configurable": {"thread_id": workflow}})
            asked[workflow] = await hitl.create_request(
                workflow, served.url(), {"task": workflow}, response_schema=SCHEMA, **terms
            )
        await hitl.respond(asked["wf-answered"]["id"], {"decision": "approve"})
        await hitl.withdraw(asked["wf-withdrawn"]["id"])

        callbacks = {w: await settled_callback(hitl, r["id"]) for w, r in asked.items()}
        for workflow, delivery in callbacks.items():
            assert delivery["state"] == "succeeded", (workflow, delivery)
            assert [a["status_code"] for a in delivery["attempt_log"]] == [204], workflow

        # A forged "expired" for a request the agent created: refused before the handler.
        forged = json.dumps({**callbacks["wf-answered"]["payload"], "event": "request.expired"})
        async with httpx.AsyncClient() as http:
            r = await http.post(
                served.url(),
                content=forged,
                headers=signing.headers(
                    [signing.new_secret()], "forged-1", int(time.time()), forged
                ),
            )
        assert r.status_code == 400 and "webhook rejected" in r.json()["detail"], r.text
        # The service's retry of an ended request's callback is a duplicate: handled once.
        await hitl.redeliver(callbacks["wf-expired"]["id"])
        for _ in range(400):
            again = await hitl.get_delivery(callbacks["wf-expired"]["id"])
            if again["attempts"] == 2 and again["state"] == "succeeded":
                break
            await asyncio.sleep(0.05)
        assert [a["status_code"] for a in again["attempt_log"]] == [204, 200]

    by_request = {(r.request_id if isinstance(r, RequestEnded) else "answered"): r for r in results}
    assert len(results) == 3, results
    assert by_request["answered"] == {"task": "wf-answered", "decision": {"decision": "approve"}}
    withdrawn = by_request[asked["wf-withdrawn"]["id"]]
    assert isinstance(withdrawn, RequestEnded)
    assert (withdrawn.state, withdrawn.workflow_id, withdrawn.by) == (
        "cancelled",
        "wf-withdrawn",
        "key:tests",
    )
    assert withdrawn.at is not None and withdrawn.reason is None
    expired = by_request[asked["wf-expired"]["id"]]
    assert isinstance(expired, RequestEnded)
    assert (expired.state, expired.workflow_id, expired.by) == ("expired", "wf-expired", None)
    assert expired.reason == "no answer before the deadline"
    assert expired.deadline_at is not None and expired.at is not None
    assert expired.payload == callbacks["wf-expired"]["payload"]
    # Nothing was resumed for them: their graphs still wait for a person.
    for workflow in ("wf-withdrawn", "wf-expired"):
        state = await graph.aget_state({"configurable": {"thread_id": workflow}})
        assert state.next == ("wait",), workflow
    done = await graph.aget_state({"configurable": {"thread_id": "wf-answered"}})
    assert done.next == ()


async def test_resume_from_webhook_refuses_what_is_not_a_request_callback() -> None:
    event = {"type": "request.expired", "timestamp": "t", "data": {"request_id": "r"}}
    with pytest.raises(ValueError, match="not a request callback: event None"):
        await resume_from_webhook(agent_graph(), event)
    with pytest.raises(ValueError, match=r"no metadata\.workflow_id"):
        await resume_from_webhook(agent_graph(), {"event": "request.cancelled"})


def test_sync_client_sends_the_same_webhook_calls() -> None:
    endpoint = {"id": "e1", "secret": "whsec_x"}
    delivery = {"id": "d1", "state": "pending"}
    responses = [
        httpx.Response(201, json=endpoint),
        httpx.Response(200, json={"items": [endpoint], "next_cursor": None}),
        httpx.Response(200, json=endpoint),
        httpx.Response(200, json=endpoint),
        httpx.Response(200, json=endpoint),
        httpx.Response(204),
        httpx.Response(200, json={"items": [delivery], "next_cursor": None}),
        httpx.Response(200, json=delivery),
        httpx.Response(202, json=delivery),
        httpx.Response(201, json={"id": "r1"}),
        httpx.Response(200, json=[delivery]),
    ]
    sent: list[httpx.Request] = []

    def service(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return responses.pop(0)

    http = httpx.Client(transport=httpx.MockTransport(service), base_url="http://svc:1/")
    with SyncHITLClient(http=http, api_key="hitl_bo") as hitl:
        assert hitl.create_webhook("https://h.example/x", ["*"]) == endpoint
        assert hitl.list_webhooks(limit=5, cursor="c")["items"] == [endpoint]
        assert hitl.get_webhook("e1") == endpoint
        assert hitl.update_webhook("e1", enabled=False) == endpoint
        assert hitl.rotate_webhook_secret("e1") == endpoint
        assert hitl.delete_webhook("e1") is None
        assert hitl.webhook_deliveries("e1")["items"] == [delivery]
        assert hitl.get_delivery("d1") == delivery
        assert hitl.redeliver("d1") == delivery
        assert hitl.create_request(
            "wf", "https://h.example/x", {"c": 1}, title="T", idempotency_key="k"
        ) == {"id": "r1"}
        assert hitl.request_deliveries("r1") == [delivery]

    assert [(r.method, r.url.path, dict(r.url.params)) for r in sent] == [
        ("POST", "/api/v1/webhooks", {}),
        ("GET", "/api/v1/webhooks", {"limit": "5", "cursor": "c"}),
        ("GET", "/api/v1/webhooks/e1", {}),
        ("PATCH", "/api/v1/webhooks/e1", {}),
        ("POST", "/api/v1/webhooks/e1/rotate-secret", {}),
        ("DELETE", "/api/v1/webhooks/e1", {}),
        ("GET", "/api/v1/webhooks/e1/deliveries", {"limit": "50"}),
        ("GET", "/api/v1/deliveries/d1", {}),
        ("POST", "/api/v1/deliveries/d1/redeliver", {}),
        ("POST", "/api/v1/requests", {}),
        ("GET", "/api/v1/requests/r1/deliveries", {}),
    ]
    bodies = [json.loads(r.content) for r in sent if r.content]
    assert bodies == [
        {"url": "https://h.example/x", "events": ["*"]},
        {"enabled": False},
        {
            "workflow_id": "wf",
            "callback_webhook": "https://h.example/x",
            "context": {"c": 1},
            "title": "T",
        },
    ]
    assert sent[9].headers["idempotency-key"] == "k"
    assert all("idempotency-key" not in r.headers for r in sent[:9])
    assert {r.headers["authorization"] for r in sent} == {"Bearer hitl_bo"}
