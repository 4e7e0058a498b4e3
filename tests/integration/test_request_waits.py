"""Long polls on an external request (``GET /api/v1/requests/{id}/wait``) hold no pool
connection while they wait and count against ``HITL_MAX_WAITERS``: more waits than the pool
has connections still let the answer through, and every wait returns with it; past the cap,
``/wait`` answers 503 with Retry-After."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from hitl.config import Settings
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
