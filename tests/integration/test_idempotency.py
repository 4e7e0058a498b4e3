"""Idempotency-Key on creating and answering requests."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from hitl import idempotency
from hitl.config import Settings
from tests.integration.test_webhooks import register


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_delivery": False})


async def make_body(client: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    await register(client, "https://agent.example.com/hook", [])
    return {
        "workflow_id": "wf-1",
        "callback_webhook": "https://agent.example.com/hook",
        "context": {"q": 1},
        "response_schema": {"type": "object", "required": ["ok"]},
        **extra,
    }


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


async def test_create_replays_the_first_response(client: httpx.AsyncClient) -> None:
    body = await make_body(client)
    first = await client.post("/api/v1/requests", json=body, headers=key("k1"))
    again = await client.post("/api/v1/requests", json=body, headers=key("k1"))
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert len((await client.get("/api/v1/requests")).json()["items"]) == 1

    other = await client.post("/api/v1/requests", json=body, headers=key("k2"))
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]


async def test_same_key_different_body_is_422(client: httpx.AsyncClient) -> None:
    body = await make_body(client)
    assert (await client.post("/api/v1/requests", json=body, headers=key("k"))).status_code == 201
    r = await client.post(
        "/api/v1/requests", json={**body, "workflow_id": "wf-2"}, headers=key("k")
    )
    assert r.status_code == 422
    [error] = r.json()["detail"]
    assert error["loc"] == ["header", "Idempotency-Key"] and "different" in error["msg"]
    assert len((await client.get("/api/v1/requests")).json()["items"]) == 1


async def test_same_key_in_flight_is_409(client: httpx.AsyncClient) -> None:
    service = client.service  # type: ignore[attr-defined]
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow(conn: Any) -> idempotency.Outcome:
        entered.set()
        await release.wait()
        return idempotency.Outcome(201, {"ok": True})

    first = asyncio.create_task(
        idempotency.execute(service.pool, scope="s", key="k", body={"a": 1}, operation=slow)
    )
    await entered.wait()
    with pytest.raises(idempotency.KeyInFlight):
        await idempotency.execute(service.pool, scope="s", key="k", body={"a": 1}, operation=slow)
    release.set()
    assert (await first).body == {"ok": True}
    replay = await idempotency.execute(
        service.pool, scope="s", key="k", body={"a": 1}, operation=slow
    )
    assert replay.body == {"ok": True} and replay.status_code == 201


async def test_respond_replays_and_conflicts_are_kept(client: httpx.AsyncClient) -> None:
    body = await make_body(client)
    request = (await client.post("/api/v1/requests", json=body)).json()
    path = f"/api/v1/requests/{request['id']}/respond"

    invalid = await client.post(path, json={"response": {}}, headers=key("bad"))
    assert invalid.status_code == 422
    assert (await client.post(path, json={"response": {}}, headers=key("bad"))).json() == (
        invalid.json()
    )

    first = await client.post(path, json={"response": {"ok": 1}}, headers=key("a"))
    again = await client.post(path, json={"response": {"ok": 1}}, headers=key("a"))
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    # Another key: a second answer, refused as ever.
    late = await client.post(path, json={"response": {"ok": 2}}, headers=key("b"))
    assert late.status_code == 409 and late.json()["detail"]["state"] == "responded"
    reused = await client.post(path, json={"response": {"ok": 2}}, headers=key("a"))
    assert reused.status_code == 422


async def test_an_operation_that_crashes_releases_the_key(client: httpx.AsyncClient) -> None:
    pool = client.service.pool  # type: ignore[attr-defined]

    async def broken(conn: Any) -> idempotency.Outcome:
        await conn.execute("INSERT INTO hitl_audit (actor, action, subject) VALUES ('t','x','y')")
        raise RuntimeError("boom")

    async def fine(conn: Any) -> idempotency.Outcome:
        return idempotency.Outcome(200, {"fine": True})

    with pytest.raises(RuntimeError):
        await idempotency.execute(pool, scope="s", key="k", body={}, operation=broken)
    async with pool.connection() as conn:  # its transaction was rolled back
        cur = await conn.execute("SELECT count(*) AS n FROM hitl_audit WHERE action = 'x'")
        assert (await cur.fetchone())["n"] == 0
    outcome = await idempotency.execute(pool, scope="s", key="k", body={}, operation=fine)
    assert outcome.body == {"fine": True}


async def test_key_rules(client: httpx.AsyncClient) -> None:
    body = await make_body(client)
    r = await client.post("/api/v1/requests", json=body, headers=key("x" * 300))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    async with client.service.pool.connection() as conn:  # type: ignore[attr-defined]
        await client.post("/api/v1/requests", json=body, headers=key("kept"))
        cur = await conn.execute(
            "SELECT expires_at - created_at >= interval '24 hours' AS kept"
            " FROM hitl_idempotency_keys WHERE key = 'kept'"
        )
        assert (await cur.fetchone())["kept"]
