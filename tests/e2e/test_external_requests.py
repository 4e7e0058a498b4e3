"""External requests without a webhook, against a service process: the creator long-polls
``GET /api/v1/requests/{id}/wait`` for the answer, and may withdraw the request
(``DELETE``), after which an answer gets 409; nobody else may do either."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
from standardwebhooks import Webhook

from hitl.launcher import ServiceProcess
from tests.support import auth
from tests.support.receiver import Receiver

LOCAL = {"HITL_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8", "HITL_WEBHOOK_RETRY_SCHEDULE": "0,0.2,0.5"}
SCHEMA = {
    "type": "object",
    "properties": {"approved": {"type": "boolean"}},
    "required": ["approved"],
}


def as_key(server: ServiceProcess, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {key}"}
    )


async def test_a_request_without_webhook_answered_while_its_creator_waits(
    ready_server: ServiceProcess, admin: httpx.AsyncClient
) -> None:
    agent_key = await auth.make_key(admin, "requests:write", name="script")
    reader_key = await auth.make_key(admin, "requests:read", "requests:write", name="other")
    async with as_key(ready_server, agent_key) as agent, as_key(ready_server, reader_key) as other:
        r = await agent.post(
            "/api/v1/requests",
            json={"workflow_id": "wf-1", "context": {"q": "Deploy v2?"}, "response_schema": SCHEMA},
        )
        assert r.status_code == 201, r.text
        request = r.json()
        assert request["callback_webhook"] is None and request["state"] == "pending"
        assert request["created_by"] == "key:script"
        assert "created_by_subject" not in request
        url = f"/api/v1/requests/{request['id']}"

        # a short wait comes back pending
        r = await agent.get(f"{url}/wait", params={"timeout": 0.2})
        assert r.status_code == 200 and r.json()["state"] == "pending"
        # someone else may read it, but neither wait on it nor withdraw it
        assert (await other.get(url)).json()["state"] == "pending"
        refused = await other.get(f"{url}/wait", params={"timeout": 0})
        assert refused.status_code == 403 and "creator" in refused.json()["detail"]
        assert (await other.delete(url)).status_code == 403

        waiting = asyncio.create_task(agent.get(f"{url}/wait", params={"timeout": 60}))
        await asyncio.sleep(0.5)  # the wait is open (it answers the same if it opens later)
        answer = await admin.post(f"{url}/respond", json={"response": {"approved": True}})
        assert answer.status_code == 200, answer.text
        r = await waiting
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "responded"
        assert r.json()["response"] == {"approved": True}
        assert r.json()["responded_by"] == "key:tests"

        # answered: no withdrawing it any more
        late = await agent.delete(url)
        assert late.status_code == 409 and late.json()["detail"]["state"] == "responded"

        # an admin may wait on anyone's; a bad timeout is a 422 naming it
        assert (await admin.get(f"{url}/wait", params={"timeout": 0})).status_code == 200
        bad = await agent.get(f"{url}/wait", params={"timeout": 301})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "timeout"]


async def test_the_creator_withdraws_a_request_and_a_later_answer_gets_409(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
) -> None:
    server = make_server(**LOCAL).start()
    server.wait_ready()
    admin = http(server.url)
    key = await auth.make_key(admin, "requests:write", "webhooks:admin", name="agent")
    async with Receiver() as hook, as_key(server, key) as agent:
        r = await agent.post("/api/v1/webhooks", json={"url": hook.url(), "events": []})
        assert r.status_code == 201, r.text
        secret = r.json()["secret"]
        r = await agent.post(
            "/api/v1/requests",
            json={"workflow_id": "wf-2", "callback_webhook": hook.url(), "context": "Deploy?"},
        )
        assert r.status_code == 201, r.text
        url = f"/api/v1/requests/{r.json()['id']}"
        waiting = asyncio.create_task(agent.get(f"{url}/wait", params={"timeout": 60}))
        await asyncio.sleep(0.5)

        r = await agent.delete(url)
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "cancelled" and r.json()["closed_at"]
        assert (await waiting).json()["state"] == "cancelled"

        late = await admin.post(f"{url}/respond", json={"response": "yes"})
        assert late.status_code == 409
        assert late.json()["detail"]["state"] == "cancelled"
        again = await agent.delete(url)
        assert again.status_code == 409 and again.json()["detail"]["state"] == "cancelled"

        # the callback says so, signed with the endpoint's secret
        [message] = await hook.wait_for(1)
        payload = Webhook(secret).verify(message.body, message.headers)
        assert payload["event"] == "request.cancelled"
        assert payload["request_id"] == url.rsplit("/", 1)[1]
        assert payload["response"] is None and payload["cancelled_by"] == "key:agent"
        assert payload["metadata"]["workflow_id"] == "wf-2"

    audit = await admin.get("/api/v1/audit", params={"request_id": url.rsplit("/", 1)[1]})
    actions = [(e["actor"], e["action"]) for e in audit.json()["items"]]
    assert ("key:agent", "request.withdraw") in actions


async def test_an_interrupt_of_a_graph_is_not_withdrawn(admin: httpx.AsyncClient) -> None:
    r = await admin.post(
        "/api/v1/threads", params={"wait": 30}, json={"graph": "approval", "input": {}}
    )
    [interrupt] = r.json()["interrupts"]
    url = f"/api/v1/requests/{interrupt['request_id']}"
    r = await admin.delete(url)
    assert r.status_code == 409 and "interrupt" in r.json()["detail"]
    assert (await admin.get(url)).json()["state"] == "pending"
