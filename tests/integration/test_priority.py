"""Priority and the inbox's views (hitl/priority.py, docs/approvals.md): where a priority comes
from, sorting by it and by deadline a page at a time, and the views of one person's work.
Real Postgres, the service's app in-process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from hitl.auth import users
from hitl.service import Service
from tests.integration.test_answer_reassigned import signed_in
from tests.integration.test_four_eyes import asked
from tests.support.api import b64


async def walk(client: httpx.AsyncClient, **params: Any) -> list[str]:
    """Every id of a listing, one item a page, following the cursors."""
    ids: list[str] = []
    cursor = None
    while True:
        query = {**params, "limit": 1, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/api/v1/requests", params=query)
        assert r.status_code == 200, r.text
        ids += [item["id"] for item in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return ids


async def test_sorting_by_priority_and_by_deadline_a_page_at_a_time(
    client: httpx.AsyncClient,
) -> None:
    low = await asked(client, "terms", priority="low", timeout_seconds=300)
    urgent = await asked(client, "terms", priority="urgent", timeout_seconds=900)
    normal = await asked(client, "terms", timeout_seconds=600)
    urgent2 = await asked(client, "terms", priority="urgent", timeout_seconds=100)
    bad = await asked(client, "terms", priority="panic", timeout_seconds=200)  # ignored
    assert [low["priority"], urgent["priority"], normal["priority"]] == ["low", "urgent", "normal"]
    assert bad["priority"] == "normal"

    by_priority = await walk(client, state="pending", sort="priority")
    # highest first, newest first within a priority
    assert by_priority == [urgent2["id"], urgent["id"], bad["id"], normal["id"], low["id"]]
    by_deadline = await walk(client, state="pending", sort="deadline")
    assert by_deadline == [urgent2["id"], bad["id"], low["id"], normal["id"], urgent["id"]]
    newest = await walk(client, state="pending")
    assert newest == [bad["id"], urgent2["id"], normal["id"], urgent["id"], low["id"]]

    due = await client.get("/api/v1/requests", params={"due_within": 250, "sort": "deadline"})
    assert [r["id"] for r in due.json()["items"]] == [urgent2["id"], bad["id"]]

    for params, field in [
        ({"sort": "loudest"}, "sort"),
        ({"due_within": 0}, "due_within"),
        ({"sort": "priority", "cursor": b64(b'["2026-01-01T00:00:00+00:00","9:x"]')}, "cursor"),
        ({"sort": "priority", "cursor": b64(b'["2026-01-01T00:00:00+00:00","99999:x"]')}, "cursor"),
    ]:
        r = await client.get("/api/v1/requests", params=params)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", field], r.text


async def test_an_external_request_and_a_registration_give_a_priority(
    client: httpx.AsyncClient, hook: Any
) -> None:
    from tests.integration.test_webhooks import register

    await register(client, hook.url(), [])
    body = {"workflow_id": "wf", "callback_webhook": hook.url(), "context": {}}
    r = await client.post("/api/v1/requests", json={**body, "priority": "high"})
    assert r.status_code == 201 and r.json()["priority"] == "high", r.text
    r = await client.post("/api/v1/requests", json={**body, "priority": "panic"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "priority"]
    r = await client.post("/api/v1/requests", json=body)
    assert r.json()["priority"] == "normal"


async def test_the_views_of_ones_work(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient], service: Service
) -> None:
    ana = await signed_in(client, client_for, "ana")
    async with service.pool.connection() as conn:
        await users.add_to_group(conn, "ana", "ops", actor="tests")
    mine = await asked(client, "terms", assignees=["ana"], priority="high")
    ops = await asked(client, "terms", assigned_groups=["ops"], timeout_seconds=60)
    other = await asked(client, "terms", assignees=["admin"])
    claimed = await asked(client, "terms")
    assert (await ana.post(f"/api/v1/requests/{claimed['id']}/claim")).status_code == 200

    async def listed(**params: str) -> list[str]:
        r = await client.get("/api/v1/requests", params=params)
        return [item["id"] for item in r.json()["items"]]

    assert await listed(assignee="ana") == [mine["id"]]
    assert await listed(group_of="ana") == [ops["id"]]
    assert await listed(claimed_by="ana") == [claimed["id"]]
    assert set(await listed(assigned_to="ana")) == {mine["id"], ops["id"]}

    async def inbox(**params: str) -> str:
        return (await ana.get("/", params=params)).text

    page = await inbox(view="assigned")
    assert mine["id"] in page and ops["id"] not in page and other["id"] not in page
    page = await inbox(view="groups")
    assert ops["id"] in page and mine["id"] not in page
    page = await inbox(view="claimed")
    assert claimed["id"] in page and mine["id"] not in page
    page = await inbox(view="due")  # HITL_DUE_SOON_SECONDS: 4 h; the rest are due in 24 h
    assert ops["id"] in page and mine["id"] not in page
    page = await inbox(sort="priority")
    assert page.index(mine["id"]) < page.index(ops["id"])
    assert 'class="badge prio-high"' in page
