"""Small helpers for driving the API in tests (in-process or against a server process)."""

from __future__ import annotations

import base64
from typing import Any

import httpx

GRAPH_MODULES = "graphs,tests.support.graphs"


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


async def respond(client: httpx.AsyncClient, request_id: str, response: Any) -> httpx.Response:
    return await client.post(f"/api/v1/requests/{request_id}/respond", json={"response": response})


def b64(raw: bytes) -> str:
    """``raw`` as a cursor travels: URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
