"""Long polls on an external request (``GET /api/v1/requests/{id}/wait``) hold no pool
connection while they wait and count against ``HITL_MAX_WAITERS``: more waits than the pool
has connections still let the answer through, and every wait returns with it; past the cap,
``/wait`` answers 503 with Retry-After."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from hitl.config import Settings
from hitl.sdk import HITLClient
from hitl.service import Service

POOL_MAX = 3
WAITERS = 10


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "runner": False,
            "webhook_delivery": False,
            "db_pool_min": 1,
            "db_pool_max": POOL_MAX,
            "max_waiters": WAITERS,
        }
    )


async def test_many_waits_on_a_request_leave_the_pool_to_the_answer(
    client: httpx.AsyncClient, service: Service
) -> None:
    r = await client.post("/api/v1/requests", json={"workflow_id": "w", "context": "ok?"})
    assert r.status_code == 201, r.text
    url = f"/api/v1/requests/{r.json()['id']}"
    waits = [
        asyncio.create_task(client.get(f"{url}/wait", params={"timeout": 120}))
        for _ in range(WAITERS)
    ]
    while service.waiting.held < WAITERS:  # every one of them is waiting now
        assert not any(t.done() for t in waits), [t.result().text for t in waits if t.done()]
        await asyncio.sleep(0.01)

    busy = await client.get(f"{url}/wait", params={"timeout": 120})
    assert busy.status_code == 503 and busy.headers["retry-after"] == "2"

    answered = await client.post(f"{url}/respond", json={"response": "yes"})
    assert answered.status_code == 200, answered.text
    done = await asyncio.gather(*waits)
    assert {(d.status_code, d.json()["state"], d.json()["response"]) for d in done} == {
        (200, "responded", "yes")
    }
    assert service.waiting.held == 0


async def test_ask_waits_out_a_server_with_every_wait_taken(
    client: httpx.AsyncClient, service: Service
) -> None:
    r = await client.post("/api/v1/requests", json={"workflow_id": "w", "context": "first"})
    first = f"/api/v1/requests/{r.json()['id']}"
    waits = [
        asyncio.create_task(client.get(f"{first}/wait", params={"timeout": 120}))
        for _ in range(WAITERS)
    ]
    while service.waiting.held < WAITERS:
        assert not any(t.done() for t in waits)
        await asyncio.sleep(0.01)
    refused: list[str] = []

    async def record(response: httpx.Response) -> None:
        if response.status_code == 503:
            refused.append(response.request.url.path)

    client.event_hooks["response"].append(record)
    asking = asyncio.create_task(HITLClient(http=client).ask("Busy?"))
    while not refused:  # ask's long poll was refused: every wait is taken
        assert not asking.done(), asking.exception()
        await asyncio.sleep(0.01)
    assert refused[0].endswith("/wait")

    assert (await client.post(f"{first}/respond", json={"response": "go"})).status_code == 200
    await asyncio.gather(*waits)  # the slots are free again
    [second] = [
        i
        for i in (await client.get("/api/v1/requests", params={"state": "pending"})).json()["items"]
        if i["title"] == "Busy?"
    ]
    r = await client.post(f"/api/v1/requests/{second['id']}/respond", json={"response": "ok"})
    assert r.status_code == 200, r.text
    assert await asking == "ok"
