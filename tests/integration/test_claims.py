"""Claims (hitl/claims.py): who is on a request, whom it binds, when it expires, and the race
of a claim committed between an answer's check and its update. Real Postgres, the service's
app in-process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from hitl import requests
from hitl.service import Service
from tests.integration.test_answer_reassigned import signed_in, until_an_update_waits_for_a_lock
from tests.integration.test_four_eyes import APPROVE, asked
from tests.support.api import respond


async def claim(who: httpx.AsyncClient, request_id: str, what: str = "claim") -> httpx.Response:
    return await who.post(f"/api/v1/requests/{request_id}/{what}")


async def expire_claim(database_url: str, request_id: str) -> None:
    """Time passes: the claim's time-out is behind it."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await conn.execute(
            "UPDATE hitl_requests SET claim_expires_at = now() - interval '1 second' WHERE id = %s",
            (request_id,),
        )


async def test_a_claim_binds_others_until_released(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    ana = await signed_in(client, client_for, "ana")
    bo = await signed_in(client, client_for, "bo")
    request = await asked(client, "terms")
    rid = request["id"]

    r = await claim(ana, rid)
    assert r.status_code == 200, r.text
    claimed = r.json()
    assert claimed["claimed_by"] == "ana" and claimed["claim_expires_at"] > claimed["claimed_at"]
    assert "claimed_by_subject" not in claimed

    # others may not answer, claim or release it; the 409 says who holds it and until when
    for refused in (
        await respond(bo, rid, APPROVE),
        await claim(bo, rid),
        await claim(bo, rid, "unclaim"),
    ):
        assert refused.status_code == 409, refused.text
        detail = refused.json()["detail"]
        assert detail["claimed_by"] == "ana" and "claimed by 'ana'" in detail["msg"]
        assert detail["claim_expires_at"] == claimed["claim_expires_at"].replace("Z", "+00:00")
    assert (await client.get(f"/api/v1/requests/{rid}")).json()["state"] == "pending"

    # the claimer renews it, and is listed as holding it
    renewed = (await claim(ana, rid)).json()
    assert renewed["claim_expires_at"] >= claimed["claim_expires_at"]
    listed = await client.get("/api/v1/requests", params={"claimed_by": "ana"})
    assert [r["id"] for r in listed.json()["items"]] == [rid]
    assert (await client.get("/api/v1/requests", params={"claimed_by": "bo"})).json()["items"] == []

    # released, anyone may take it
    released = await claim(ana, rid, "unclaim")
    assert released.status_code == 200 and released.json()["claimed_by"] is None
    assert (await claim(ana, rid, "unclaim")).status_code == 200  # nothing to release
    assert (await claim(bo, rid)).json()["claimed_by"] == "bo"
    answered = await respond(bo, rid, APPROVE)
    assert answered.status_code == 200 and answered.json()["responded_by"] == "bo"
    r = await claim(ana, rid)
    assert r.status_code == 409 and r.json()["detail"]["state"] == "responded"

    audit = await client.get("/api/v1/audit", params={"subject": rid})
    actions = [(e["actor"], e["action"]) for e in audit.json()["items"]][::-1]
    assert actions[-5:] == [
        ("ana", "request.claim"),
        ("ana", "request.claim"),
        ("ana", "request.unclaim"),
        ("bo", "request.claim"),
        ("bo", "request.respond"),
    ]


async def test_an_admin_answers_or_takes_over_and_an_expired_claim_binds_nobody(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient], database_url: str
) -> None:
    ana = await signed_in(client, client_for, "ana")
    bo = await signed_in(client, client_for, "bo")
    first = await asked(client, "terms")
    assert (await claim(ana, first["id"])).status_code == 200
    taken = await claim(client, first["id"])  # the admin key takes it over
    assert taken.status_code == 200 and taken.json()["claimed_by"] == "key:tests"
    assert (await claim(ana, first["id"])).status_code == 409

    second = await asked(client, "terms")
    await claim(ana, second["id"])
    assert (await respond(client, second["id"], APPROVE)).status_code == 200

    third = await asked(client, "terms")
    await claim(ana, third["id"])
    await expire_claim(database_url, third["id"])
    assert (await client.get("/api/v1/requests", params={"claimed_by": "ana"})).json()[
        "items"
    ] == []
    answered = await respond(bo, third["id"], APPROVE)
    assert answered.status_code == 200, answered.text


async def test_who_may_not_answer_may_not_claim(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    ana = await signed_in(client, client_for, "ana")
    await signed_in(client, client_for, "bo")
    for_bo = await asked(client, "terms", assignees=["bo"])
    r = await claim(ana, for_bo["id"])
    assert r.status_code == 403 and "assigned to others" in r.json()["detail"]
    for_ana = await asked(client, "terms", on_behalf_of="ana", forbid_self_approval=True)
    r = await claim(ana, for_ana["id"])
    assert r.status_code == 403 and "forbid_self_approval" in r.json()["detail"]
    r = await claim(ana, "00000000-0000-4000-8000-000000000000")
    assert r.status_code == 404


async def test_a_claim_committed_after_the_check_refuses_the_answer(
    client: httpx.AsyncClient,
    client_for: Callable[..., httpx.AsyncClient],
    service: Service,
    database_url: str,
) -> None:
    """Bo's answer passed its check (nobody had claimed the request); Ana's claim commits
    while the answer's UPDATE waits for the row: the answer is refused (409, Ana's claim), and
    the request stays pending with Ana on it."""
    await signed_in(client, client_for, "ana")
    bo = await signed_in(client, client_for, "bo")
    request = await asked(client, "terms")
    async with service.pool.connection() as conn:
        ana = await _principal(conn, "ana")
    async with (
        await psycopg.AsyncConnection.connect(
            database_url, row_factory=dict_row, autocommit=True
        ) as watcher,
        await psycopg.AsyncConnection.connect(database_url, row_factory=dict_row) as other,
    ):
        async with other.transaction():
            await requests.claim(other, request["id"], ana, 600)
            answer = asyncio.create_task(respond(bo, request["id"], APPROVE))
            await until_an_update_waits_for_a_lock(watcher)
        r = await answer
    assert r.status_code == 409, r.text
    assert r.json()["detail"]["claimed_by"] == "ana"
    after = (await client.get(f"/api/v1/requests/{request['id']}")).json()
    assert after["state"] == "pending" and after["claimed_by"] == "ana"


async def _principal(conn: Any, username: str) -> Any:
    from hitl.auth import principal

    cur = await conn.execute("SELECT id, role FROM hitl_users WHERE username = %s", (username,))
    row = await cur.fetchone()
    return principal.for_user(user_id=row["id"], username=username, role=row["role"])


async def test_the_pages_show_the_claim_and_claimed_by_me(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    ana = await signed_in(client, client_for, "ana")
    bo = await signed_in(client, client_for, "bo")
    mine, other = await asked(client, "terms"), await asked(client, "terms")
    form = {"_csrf": ana.headers["X-CSRF-Token"]}
    r = await ana.post(f"/requests/{mine['id']}/claim", data=form)
    assert r.status_code == 303 and r.headers["location"].endswith("#claim")

    page = (await ana.get(f"/requests/{mine['id']}")).text
    assert "You claimed this request until" in page and ">Release<" in page
    page = (await bo.get(f"/requests/{mine['id']}")).text
    assert "<strong>ana</strong> is on it" in page and 'id="claimed-by-other"' in page
    r = await bo.post(
        f"/requests/{mine['id']}/answer",
        data={"_csrf": bo.headers["X-CSRF-Token"], "decision": "approve"},
    )
    assert r.status_code == 409 and "claimed by" in r.text
    r = await bo.post(f"/requests/{mine['id']}/claim", data={"_csrf": bo.headers["X-CSRF-Token"]})
    assert r.status_code == 409 and 'id="claim-problem"' in r.text

    inbox = (await ana.get("/", params={"view": "claimed"})).text
    assert mine["id"] in inbox and other["id"] not in inbox
    assert "claimed by you" in inbox
    everyone = (await bo.get("/")).text
    assert mine["id"] in everyone and 'data-claimed-by="ana"' in everyone
