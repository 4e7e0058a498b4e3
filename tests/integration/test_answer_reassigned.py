"""Who may answer is a condition of the answer's UPDATE, not only a read before it: a
reassignment committed between the check and the update refuses the answer of someone it
left out. The race is made deterministic by holding the request's row lock in another
connection (an open reassignment) until the answer's UPDATE waits for it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from hitl import assignment, requests
from hitl.service import Service
from tests.integration.test_authorization import interrupted
from tests.support import auth
from tests.support.auth import signed_in


async def until_an_update_waits_for_a_lock(conn: psycopg.AsyncConnection[Any]) -> None:
    for _ in range(500):
        cur = await conn.execute(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query LIKE '%%UPDATE hitl_requests%%'"
        )
        row = await cur.fetchone()
        if row and row["n"]:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the answer never waited for the row lock")


async def answer_during_reassignment(
    database_url: str,
    answerer: httpx.AsyncClient,
    request_id: str,
    **routing: Any,
) -> httpx.Response:
    """``answerer`` answers while a reassignment to ``routing`` holds the row; the
    reassignment commits once the answer's UPDATE waits for it."""
    async with (
        # autocommit: pg_stat_activity is read once per transaction
        await psycopg.AsyncConnection.connect(
            database_url, row_factory=dict_row, autocommit=True
        ) as watcher,
        await psycopg.AsyncConnection.connect(database_url, row_factory=dict_row) as other,
    ):
        async with other.transaction():
            await requests.reassign(other, request_id, assignment.Routing(**routing), "admin")
            answer = asyncio.create_task(
                answerer.post(
                    f"/api/v1/requests/{request_id}/respond",
                    json={"response": {"decision": "approve"}},
                )
            )
            await until_an_update_waits_for_a_lock(watcher)
        return await answer


async def test_a_reassignment_committed_after_the_check_refuses_the_answer(
    client: httpx.AsyncClient,
    client_for: Callable[..., httpx.AsyncClient],
    service: Service,
    database_url: str,
) -> None:
    _, request = await interrupted(client)
    ann = await signed_in(client, client_for, "ann")
    await auth.make_user(client, "bob")
    async with service.pool.connection() as conn:
        await conn.execute(
            "UPDATE hitl_requests SET assignees = '{ann}' WHERE id = %s", (request["id"],)
        )

    r = await answer_during_reassignment(database_url, ann, request["id"], assignees=["bob"])
    assert r.status_code == 403 and "assigned to others" in r.json()["detail"], r.text
    now = (await client.get(f"/api/v1/requests/{request['id']}")).json()
    assert now["state"] == "pending" and now["assignees"] == ["bob"] and now["response"] is None


async def test_a_reassignment_that_keeps_the_answerer_lets_the_answer_through(
    client: httpx.AsyncClient,
    client_for: Callable[..., httpx.AsyncClient],
    service: Service,
    database_url: str,
) -> None:
    _, request = await interrupted(client)
    ann = await signed_in(client, client_for, "ann")
    await auth.make_user(client, "bob")
    async with service.pool.connection() as conn:
        await conn.execute(
            "UPDATE hitl_requests SET assignees = '{ann}' WHERE id = %s", (request["id"],)
        )

    r = await answer_during_reassignment(database_url, ann, request["id"], assignees=["bob", "ann"])
    assert r.status_code == 200 and r.json()["responded_by"] == "ann", r.text
    # First answer wins as ever: a second answer gets 409 with the current state.
    again = await ann.post(
        f"/api/v1/requests/{request['id']}/respond", json={"response": {"decision": "reject"}}
    )
    assert again.status_code == 409 and again.json()["detail"]["state"] == "responded"
