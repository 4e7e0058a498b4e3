"""A watched thread's runs are streamed for its page (migration 0027, hitl/ui/progress.py):
a person who answers in the web UI watches the thread for a minute, so the resume their answer
queues records its steps; an answer through the API to a thread nobody watches queues a run
that is not streamed, and a lapsed watch streams nothing. Real Postgres, the service's app
in-process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import psycopg

from tests.support import auth
from tests.support.api import pending, settle, start


async def interrupted(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    thread_id = await start(client, "approval", {})
    await settle(client, thread_id)
    [request] = await pending(client, thread_id)
    return thread_id, request


async def resume_options(database_url: str, thread_id: str) -> Any:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(
            "SELECT options FROM hitl_runs WHERE thread_id = %s AND kind = 'resume'", (thread_id,)
        )
        [(options,)] = await cur.fetchall()
    return options


async def test_an_answer_in_the_web_ui_streams_the_run_it_starts(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient], database_url: str
) -> None:
    watched, request = await interrupted(client)
    password = await auth.make_user(client, "ann")
    ann = client_for()
    csrf = await auth.sign_in(ann, "ann", password)
    r = await ann.post(
        f"/requests/{request['id']}/answer", data={"decision": "approve", "_csrf": csrf}
    )
    assert r.status_code == 303, r.text
    assert (await settle(client, watched))["status"] == "completed"
    options = await resume_options(database_url, watched)
    assert options == {"progress": {"modes": ["updates", "custom"], "subgraphs": False}}

    unwatched, request = await interrupted(client)
    body = {"response": {"decision": "approve"}}
    r = await client.post(f"/api/v1/requests/{request['id']}/respond", json=body)
    assert r.status_code == 200, r.text
    assert (await settle(client, unwatched))["status"] == "completed"
    assert await resume_options(database_url, unwatched) == {}

    lapsed, request = await interrupted(client)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await conn.execute(
            "INSERT INTO hitl_thread_watchers VALUES (%s, now() - interval '1 second')", (lapsed,)
        )
    r = await client.post(f"/api/v1/requests/{request['id']}/respond", json=body)
    assert (await settle(client, lapsed))["status"] == "completed"
    assert await resume_options(database_url, lapsed) == {}
