"""Answers that come while a run of their thread runs, and what the runner knows without
reading the checkpoint again (see `hitl.runner.Runner._read`)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from hitl import requests
from hitl.service import Service
from tests.support.api import respond, settle, start
from tests.support.graphs import Gate


async def _asked(client: httpx.AsyncClient, thread_id: str) -> dict[str, dict[str, Any]]:
    thread = await settle(client, thread_id)
    assert thread["status"] == "interrupted", thread
    return {i["value"]["side"]: i for i in thread["interrupts"]}


async def _request(client: httpx.AsyncClient, request_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/requests/{request_id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_an_answer_to_an_interrupt_the_running_run_ends_is_superseded_not_applied(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    gate, right_file = Gate(), tmp_path / "right-done"
    thread_id = await start(client, "gated", {"gate": gate.name, "right_file": str(right_file)})
    asked = await _asked(client, thread_id)
    right_file.touch()  # from now on the right branch does not ask: its interrupt will go

    assert (await respond(client, asked["left"]["request_id"], "go")).status_code == 200
    assert await asyncio.to_thread(gate.reached.wait, 30)  # the run resuming 'left' is running
    r = await respond(client, asked["right"]["request_id"], {"decision": "approve"})
    assert r.status_code == 200 and r.json()["state"] == "responded"
    gate.opened.set()

    thread = await settle(client, thread_id)
    assert thread["status"] == "completed"
    assert thread["values"]["log"] == [["left", "go"], ["right", "not asked"], ["after"]]
    assert (await _request(client, asked["right"]["request_id"]))["state"] == "superseded"
    assert (await _request(client, asked["left"]["request_id"]))["state"] == "resumed"


async def test_an_answer_recorded_while_the_run_records_is_applied_by_the_next_run(
    client: httpx.AsyncClient, service: Service, database_url: str, tmp_path: Path
) -> None:
    gate = Gate()
    thread_id = await start(
        client, "gated", {"gate": gate.name, "right_file": str(tmp_path / "never")}
    )
    asked = await _asked(client, thread_id)
    assert (await respond(client, asked["left"]["request_id"], "go")).status_code == 200
    assert await asyncio.to_thread(gate.reached.wait, 30)

    # The right answer is being recorded (its transaction not committed yet) when the run,
    # which gathered only the left one, records its result.
    async with await psycopg.AsyncConnection.connect(database_url, row_factory=dict_row) as conn:
        async with conn.transaction():
            await requests.respond_on(
                conn, asked["right"]["request_id"], {"decision": "approve"}, "tester"
            )
            gate.opened.set()
            async with await psycopg.AsyncConnection.connect(
                database_url, autocommit=True
            ) as watcher:
                # until the runner waits for this transaction (or, wrongly, has recorded)
                for _ in range(600):
                    cur = await watcher.execute(
                        "SELECT (SELECT count(*) FROM pg_stat_activity"
                        "        WHERE datname = current_database() AND wait_event_type = 'Lock'),"
                        "       (SELECT status FROM hitl_threads WHERE thread_id = %s)",
                        (thread_id,),
                    )
                    waiting, status = await cur.fetchone()  # type: ignore[misc]
                    if waiting or status != "running":
                        break
                    await asyncio.sleep(0.05)
        # committed: the run's record sees the answer and queues the next run

    thread = await settle(client, thread_id)
    assert thread["status"] == "completed", thread
    assert thread["values"]["log"] == [["left", "go"], ["right", "approve"], ["after"]]
    assert (await _request(client, asked["right"]["request_id"]))["state"] == "resumed"


async def test_the_checkpoint_names_the_run_that_wrote_it_and_an_operator_update_does_not(
    client: httpx.AsyncClient, service: Service
) -> None:
    thread_id = await start(client, "approval", {})
    await settle(client, thread_id)
    sql = """
        SELECT (SELECT metadata ->> 'hitl_run' FROM checkpoints
                WHERE thread_id = %(t)s AND checkpoint_ns = ''
                ORDER BY checkpoint_id DESC LIMIT 1) AS written_by,
               (SELECT id || ':' || attempts FROM hitl_runs
                WHERE thread_id = %(t)s ORDER BY id DESC LIMIT 1) AS recorded_by
    """
    async with service.pool.connection() as conn:
        row = await (await conn.execute(sql, {"t": thread_id})).fetchone()
        assert row is not None and row["written_by"] == row["recorded_by"]
        graph = service.graphs["approval"]
        config: Any = {"configurable": {"thread_id": thread_id}}
        await graph.aupdate_state(config, {"log": [["set by an operator"]]}, as_node="ask")
        row = await (await conn.execute(sql, {"t": thread_id})).fetchone()
        assert row is not None and row["written_by"] != row["recorded_by"]


async def test_a_wait_answered_from_the_record_is_the_thread_as_read(
    client: httpx.AsyncClient,
) -> None:
    """A waiter of the process whose runner records the thread is handed the thread as
    recorded (no read); it is exactly what a read gives, at an interrupt and at the end."""
    thread_id = await start(client, "parallel", {})
    waited = await settle(client, thread_id)
    assert waited["status"] == "interrupted" and len(waited["interrupts"]) == 2
    assert waited == (await client.get(f"/api/v1/threads/{thread_id}")).json()
    for interrupt in waited["interrupts"]:
        answer = "ok" if interrupt["value"]["side"] == "left" else {"decision": "approve"}
        assert (await respond(client, interrupt["request_id"], answer)).status_code == 200
        waited = await settle(client, thread_id)
        assert waited == (await client.get(f"/api/v1/threads/{thread_id}")).json()
    assert waited["status"] == "completed"
