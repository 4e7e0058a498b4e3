"""Long polls and live-update streams hold no pool connection while they wait, and a process
caps how many are open at once (``HITL_MAX_WAITERS``): past it ``/wait`` answers 503 with
Retry-After, ``?wait=`` answers at once with the thread as it is (its write made), and a
stream asks the browser to come back later. A flood of waiters cannot starve answers.

The service runs no runner here, so a started thread stays ``queued``: a wait on it waits
until its timeout (or until the test ends and cancels it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from hitl.config import Settings
from hitl.service import Service
from tests.integration.test_idempotency import make_body
from tests.support import auth

POOL_MAX = 3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "runner": False,
            "webhook_delivery": False,
            "db_pool_min": 1,
            "db_pool_max": POOL_MAX,
            "max_waiters": 40,
        }
    )


@pytest.fixture
async def waits(service: Service) -> AsyncIterator[list[asyncio.Task[httpx.Response]]]:
    """Long polls the test opens; they end with the test, as their threads fail."""
    tasks: list[asyncio.Task[httpx.Response]] = []
    yield tasks
    await fail_threads(service)
    await asyncio.gather(*tasks)


async def fail_threads(service: Service) -> None:
    """Every thread comes to rest (failed), as a run that failed leaves it: its waits end."""
    async with service.pool.connection() as conn:
        await conn.execute(
            "WITH failed AS (UPDATE hitl_threads SET status = 'failed'"
            " WHERE status <> 'failed' RETURNING thread_id)"
            " SELECT pg_notify('hitl_threads', thread_id) FROM failed"
        )


async def queued_thread(client: httpx.AsyncClient) -> str:
    r = await client.post("/api/v1/threads", json={"graph": "approval", "input": {}})
    assert r.status_code == 202, r.text
    return str(r.json()["thread_id"])


async def open_waits(
    client: httpx.AsyncClient,
    service: Service,
    waits: list[asyncio.Task[httpx.Response]],
    thread_id: str,
    n: int,
) -> None:
    held = service.waiting.held
    for _ in range(n):
        call = client.get(f"/api/v1/threads/{thread_id}/wait", params={"timeout": 300})
        waits.append(asyncio.create_task(call))
    while service.waiting.held < held + n:  # every one of them is waiting now
        assert not any(t.done() for t in waits), [t.result().text for t in waits if t.done()]
        await asyncio.sleep(0.01)


async def test_with_more_waiters_than_pool_connections_an_answer_goes_through(
    client: httpx.AsyncClient, service: Service, waits: list[asyncio.Task[httpx.Response]]
) -> None:
    thread_id = await queued_thread(client)
    await open_waits(client, service, waits, thread_id, 10 * POOL_MAX)

    request = (await client.post("/api/v1/requests", json=await make_body(client))).json()
    answer = await client.post(
        f"/api/v1/requests/{request['id']}/respond", json={"response": {"ok": True}}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "responded"
    assert not any(t.done() for t in waits)  # the waiters are still waiting
    assert service.pool.get_stats()["pool_size"] <= POOL_MAX


async def test_past_the_cap_waits_do_not_wait(
    client: httpx.AsyncClient,
    client_for: Callable[..., httpx.AsyncClient],
    service: Service,
    waits: list[asyncio.Task[httpx.Response]],
) -> None:
    thread_id = await queued_thread(client)
    await open_waits(client, service, waits, thread_id, service.settings.max_waiters)

    refused = await client.get(f"/api/v1/threads/{thread_id}/wait", params={"timeout": 300})
    assert refused.status_code == 503 and refused.headers["retry-after"] == "2"
    assert "too many waits" in refused.json()["detail"]

    # ?wait= makes its write and answers with the thread as it is, without waiting (a wait of
    # 300 s would outlast the test's timeout).
    r = await client.post(
        "/api/v1/threads", params={"wait": 300}, json={"graph": "approval", "input": {}}
    )
    assert r.status_code == 202 and r.json()["status"] == "queued", r.text
    assert (await client.get(r.headers["location"])).json()["status"] == "queued"

    # A live-update stream ends at once, asking the browser to come back later.
    browser = client_for()
    await auth.sign_in(browser, auth.ADMIN_USER, auth.ADMIN_PASSWORD)
    stream = await browser.get("/ui/events")
    assert stream.status_code == 200 and stream.text == "retry: 30000\n\n"

    # Once the waits end, their slots are free again.
    await fail_threads(service)
    assert {(await t).status_code for t in waits} == {200}
    assert service.waiting.held == 0
    waits.clear()
    thread_id = await queued_thread(client)
    await open_waits(client, service, waits, thread_id, 1)
