"""Small helpers for driving the API in tests (in-process or against a server process)."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from hitl.service import Service

GRAPH_MODULES = "graphs,tests.support.graphs"
#: Where the external requests of `external_request` call back: nothing listens there.
NOWHERE = "http://127.0.0.1:9/hook"


async def start(client: httpx.AsyncClient, graph: str, input: dict[str, Any], **extra: Any) -> str:
    r = await client.post("/api/v1/threads", json={"graph": graph, "input": input, **extra})
    assert r.status_code == 202, r.text
    return str(r.json()["thread_id"])


async def settle(client: httpx.AsyncClient, thread_id: str, timeout: float = 30) -> dict[str, Any]:
    """The thread once interrupted, completed or failed."""
    r = await client.get(f"/api/v1/threads/{thread_id}/wait", params={"timeout": timeout})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["status"] in ("interrupted", "completed", "failed"), body
    return body


async def pending(client: httpx.AsyncClient, thread_id: str) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/requests", params={"thread_id": thread_id, "state": "pending"})
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def asked(client: httpx.AsyncClient, graph: str, **terms: Any) -> dict[str, Any]:
    """The one request a new thread of ``graph`` (``timed``, ``terms``, ``four_eyes``: the test
    graphs that ask with the ``terms`` of their input) is interrupted at."""
    thread_id = await start(client, graph, {"terms": terms})
    assert (await settle(client, thread_id))["status"] == "interrupted"
    [request] = await pending(client, thread_id)
    return request


async def external_request(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    """An external request of workflow ``wf`` calling back `NOWHERE` (registered as the
    client's endpoint the first time), with ``body`` over those; the 201's body."""
    endpoints = (await client.get("/api/v1/webhooks")).json()["items"]
    if NOWHERE not in {e["url"] for e in endpoints}:
        r = await client.post("/api/v1/webhooks", json={"url": NOWHERE, "events": []})
        assert r.status_code == 201, r.text
    r = await client.post(
        "/api/v1/requests",
        json={"workflow_id": "wf", "callback_webhook": NOWHERE, "context": {}, **body},
    )
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def audit_of(service: Service, request_id: str) -> list[dict[str, Any]]:
    """The audit entries of the answers to a request (``actor``, ``data``), as recorded."""
    async with service.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT actor, data FROM hitl_audit WHERE action = 'request.respond' AND subject = %s",
            (request_id,),
        )
        return list(await cur.fetchall())


async def travel(service: Service, request_id: str, seconds: float) -> None:
    """Move the request's deadline window ``seconds`` into the past, as if that time went by."""
    async with service.pool.connection() as conn:
        await conn.execute(
            "UPDATE hitl_requests SET deadline_at = deadline_at - %(s)s,"
            " timer_at = timer_at - %(s)s, window_started_at = window_started_at - %(s)s"
            " WHERE id = %(id)s",
            {"s": timedelta(seconds=seconds), "id": request_id},
        )


async def respond(client: httpx.AsyncClient, request_id: str, response: Any) -> httpx.Response:
    return await client.post(f"/api/v1/requests/{request_id}/respond", json={"response": response})


def b64(raw: bytes) -> str:
    """``raw`` as a cursor travels: URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
