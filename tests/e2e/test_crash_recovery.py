"""The service as a process: SIGKILL at the worst moments, and nothing is lost or done twice."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
from langgraph_sdk import get_client
from langgraph_sdk.schema import Command

from hitl.launcher import ServiceProcess
from tests.support import auth
from tests.support.api import pending, respond, settle, start


async def test_sigkill_between_interrupt_and_answer(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
    tmp_path: Path,
) -> None:
    counter = tmp_path / "count"
    server = make_server().start()
    server.wait_ready()
    client = http(server.url)
    thread_id = await start(client, "approval", {"counter_file": str(counter)})
    assert (await settle(client, thread_id))["status"] == "interrupted"
    server.kill()

    server.start()
    server.wait_ready()
    [request] = await pending(client, thread_id)
    assert (await respond(client, request["id"], {"decision": "approve"})).status_code == 200
    thread = await settle(client, thread_id)
    assert thread["status"] == "completed", thread
    assert counter.read_text().split() == ["ask", "ask", "after"]


async def test_crash_after_checkpoint_commit_before_requests_are_recorded(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
    database_url: str,
    tmp_path: Path,
) -> None:
    counter = tmp_path / "count"
    server = make_server().start({"HITL_FAILPOINTS": "after_checkpoint"})
    server.wait_ready()
    client = http(server.url)
    thread_id = await start(client, "approval", {"counter_file": str(counter)})
    assert await asyncio.to_thread(server.wait_exit, 60) == -9  # killed itself at the failpoint

    # The window really was hit: LangGraph committed the interrupt, the service recorded nothing.
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM hitl_requests").fetchone() == (0,)
        interrupts = conn.execute(
            "SELECT count(*) FROM checkpoint_writes"
            " WHERE thread_id = %s AND channel = '__interrupt__'",
            (thread_id,),
        ).fetchone()
        assert interrupts is not None and interrupts[0] > 0

    server.start()  # without the failpoint
    server.wait_ready()
    thread = await settle(client, thread_id)  # once the dead worker's lease has run out
    assert thread["status"] == "interrupted"
    [request] = await pending(client, thread_id)
    assert request["value"] == {"question": "approve?"}
    assert counter.read_text().split() == ["ask"]  # recovered from the checkpoint, not re-run

    assert (await respond(client, request["id"], {"decision": "approve"})).status_code == 200
    assert (await settle(client, thread_id))["status"] == "completed"
    assert counter.read_text().split() == ["ask", "ask", "after"]


async def test_twenty_concurrent_answers_one_wins_and_the_graph_resumes_once(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
    tmp_path: Path,
) -> None:
    counter = tmp_path / "count"
    server = make_server().start()
    server.wait_ready()
    client = http(server.url)
    thread_id = await start(client, "approval", {"counter_file": str(counter)})
    await settle(client, thread_id)
    [request] = await pending(client, thread_id)

    answers = await asyncio.gather(
        *(
            respond(client, request["id"], {"decision": "approve", "comment": f"person {i}"})
            for i in range(20)
        )
    )
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] + [409] * 19
    [winner] = [r.json() for r in answers if r.status_code == 200]
    for loser in (r for r in answers if r.status_code == 409):
        assert loser.json()["detail"]["state"] in ("responded", "resumed")

    thread = await settle(client, thread_id)
    assert thread["status"] == "completed"
    stored = (await client.get(f"/api/v1/requests/{request['id']}")).json()
    assert stored["response"] == winner["response"]
    assert counter.read_text().split() == ["ask", "ask", "after"]


async def test_a_run_that_keeps_killing_its_worker_fails_the_thread(
    make_server: Callable[..., ServiceProcess], http: Callable[[str], httpx.AsyncClient]
) -> None:
    server = make_server(HITL_RUN_MAX_ATTEMPTS="1").start({"HITL_FAILPOINTS": "after_checkpoint"})
    server.wait_ready()
    client = http(server.url)
    thread_id = await start(client, "approval", {})
    assert await asyncio.to_thread(server.wait_exit, 60) == -9

    server.start()
    server.wait_ready()
    thread = await settle(client, thread_id)
    assert thread["status"] == "failed"
    assert thread["error"]["type"] == "RunAbandoned"
    assert await pending(client, thread_id) == []


async def test_crash_after_a_next_turns_checkpoint_gives_its_input_once(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
    tmp_path: Path,
) -> None:
    """A second turn sent through LangGraph's client, its worker killed right after LangGraph
    committed the turn's interrupt: the run taken over records that interrupt, without giving
    the graph the input again."""
    counter = tmp_path / "count"
    server = make_server().start()
    server.wait_ready()
    client = http(server.url)
    lg = get_client(url=server.url + "/lg", api_key=auth.ADMIN_KEY)
    thread_id = str(uuid.uuid4())
    first = await lg.runs.wait(
        thread_id, "approval", input={"counter_file": str(counter)}, if_not_exists="create"
    )
    await lg.runs.wait(thread_id, "approval", command=Command(resume={"decision": "approve"}))
    assert counter.read_text().split() == ["ask", "ask", "after"]  # the resume re-runs `ask`
    server.kill()

    server.start({"HITL_FAILPOINTS": "after_checkpoint"})
    server.wait_ready()
    await lg.runs.create(thread_id, "approval", input={})
    assert await asyncio.to_thread(server.wait_exit, 60) == -9  # killed itself at the failpoint
    assert counter.read_text().split() == ["ask", "ask", "after", "ask"]

    server.start()  # without the failpoint
    server.wait_ready()
    thread = await settle(client, thread_id)  # once the dead worker's lease has run out
    assert thread["status"] == "interrupted"
    [request] = await pending(client, thread_id)
    assert request["interrupt_id"] != first["__interrupt__"][0]["id"]
    assert counter.read_text().split() == ["ask", "ask", "after", "ask"]  # the turn ran once
    runs = await lg.runs.list(thread_id)
    assert [r["status"] for r in runs] == ["success"] * 3
