"""Timers across processes: two services firing the same timers, a timer that came due while no
process ran, and a process SIGKILLed while firing one (``HITL_FAILPOINTS=timers_before_commit``:
after acting, before the commit).

The `timed` graph (tests/support/graphs.py) puts the input's ``terms`` in its interrupt value
and logs what it was resumed with.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from hitl.launcher import ServiceProcess
from tests.support.api import pending, settle, start


def query(database_url: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


async def until_status(
    client: httpx.AsyncClient, thread_id: str, status: str, timeout: float = 60
) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            thread: dict[str, Any] = (await client.get(f"/api/v1/threads/{thread_id}")).json()
            if thread["status"] == status:
                return thread
            await asyncio.sleep(0.1)


async def until_past_deadline(database_url: str, request_id: str, timeout: float = 30) -> None:
    """Wait until the database's clock is past the request's deadline."""
    sql = "SELECT deadline_at <= now() AS past FROM hitl_requests WHERE id = %s"
    async with asyncio.timeout(timeout):
        while True:
            if (await asyncio.to_thread(query, database_url, sql, request_id))[0]["past"]:
                return
            await asyncio.sleep(0.1)


def events_of(database_url: str, request_id: str) -> list[str]:
    rows = query(
        database_url, "SELECT type FROM hitl_events WHERE subject = %s ORDER BY id", request_id
    )
    return [r["type"] for r in rows]


async def interrupted(client: httpx.AsyncClient, terms: dict[str, Any]) -> dict[str, Any]:
    thread_id = await start(client, "timed", {"terms": terms})
    assert (await settle(client, thread_id, 60))["status"] == "interrupted"
    [request] = await pending(client, thread_id)
    return request


async def test_two_services_fire_each_timer_once(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
    database_url: str,
) -> None:
    a, b = make_server().start(), make_server().start()
    a.wait_ready()
    b.wait_ready()
    client = http(a.url)
    terms = {
        "timeout_seconds": 2,
        "reminders": [0.5],
        "on_timeout": {
            "action": "escalate",
            "to": {"groups": ["leads"]},
            "extend_seconds": 2,
            "then": {"action": "expire", "thread": "resume"},
        },
    }
    requests = await asyncio.gather(*(interrupted(client, terms) for _ in range(20)))
    threads = await asyncio.gather(
        *(until_status(client, r["thread_id"], "completed") for r in requests)
    )
    for request, thread in zip(requests, threads, strict=True):
        [marker] = thread["values"]["log"]  # resumed once, with the expiry marker
        assert marker["expired"] is True and marker["request_id"] == request["id"]
        fired = events_of(database_url, request["id"])
        assert fired.count("request.escalated") == 1 and fired.count("request.expired") == 1
        reminded = query(
            database_url,
            "SELECT data->'escalations' AS e, data->'reminder' AS r FROM hitl_events"
            " WHERE type = 'request.reminded' AND subject = %s",
            request["id"],
        )
        # At most one reminder per deadline window (one may fold into the deadline if a poll
        # came late), never a duplicate.
        assert len({(r["e"], r["r"]) for r in reminded}) == len(reminded) <= 2
        actions = query(
            database_url,
            "SELECT action, count(*) AS n FROM hitl_audit WHERE subject = %s GROUP BY action",
            request["id"],
        )
        assert {r["action"]: r["n"] for r in actions} == {
            "request.escalate": 1,
            "request.expire": 1,
        }
    assert a.proc is not None and a.proc.poll() is None
    assert b.proc is not None and b.proc.poll() is None


async def test_a_timer_due_while_no_service_ran_fires_when_one_starts(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
    database_url: str,
) -> None:
    first = make_server().start()
    first.wait_ready()
    default = {"decision": "approve", "comment": "by default"}
    terms = {
        "timeout_seconds": 2,
        "reminders": [],
        "on_timeout": {"action": "default", "value": default},
    }
    request = await interrupted(http(first.url), terms)
    first.terminate()  # stopped: no process polls for timers now

    await until_past_deadline(database_url, request["id"])
    [row] = query(database_url, "SELECT state FROM hitl_requests WHERE id = %s", request["id"])
    assert row["state"] == "pending"
    assert events_of(database_url, request["id"]) == ["request.created"]

    second = make_server().start()
    second.wait_ready()
    thread = await until_status(http(second.url), request["thread_id"], "completed")
    assert thread["values"]["log"] == [default]
    assert events_of(database_url, request["id"]) == ["request.created", "request.responded"]
    [row] = query(
        database_url, "SELECT state, responded_by FROM hitl_requests WHERE id = %s", request["id"]
    )
    assert row == {"state": "resumed", "responded_by": "system:timeout"}


async def test_a_sigkill_while_firing_leaves_the_timer_to_fire_once_after_restart(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
    database_url: str,
) -> None:
    doomed = make_server(HITL_FAILPOINTS="timers_before_commit").start()
    doomed.wait_ready()
    terms = {"timeout_seconds": 1, "reminders": [], "on_timeout": {"action": "expire"}}
    request = await interrupted(http(doomed.url), terms)
    # It acts on the timer, then kills itself before the commit.
    assert await asyncio.to_thread(doomed.wait_exit, 60) == -9

    [row] = query(
        database_url,
        "SELECT r.state, t.status FROM hitl_requests r JOIN hitl_threads t USING (thread_id)"
        " WHERE r.id = %s",
        request["id"],
    )
    assert row == {"state": "pending", "status": "interrupted"}  # nothing of the firing kept
    assert events_of(database_url, request["id"]) == ["request.created"]
    assert query(database_url, "SELECT id FROM hitl_audit WHERE subject = %s", request["id"]) == []

    again = make_server().start()
    again.wait_ready()
    thread = await until_status(http(again.url), request["thread_id"], "failed")
    assert thread["error"]["type"] == "RequestExpired"
    assert events_of(database_url, request["id"]) == ["request.created", "request.expired"]
    [entry] = query(
        database_url, "SELECT actor, action FROM hitl_audit WHERE subject = %s", request["id"]
    )
    assert entry == {"actor": "system:timeout", "action": "request.expire"}
