"""LangGraph's own client, unchanged, runs threads through the Agent Server door (``/lg``): runs
to an interrupt and back, several turns on one thread, update_state, multitask strategies,
cancellation, and run webhooks signed through the outbox. One server process, real Postgres."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.schema import Command
from standardwebhooks import Webhook

from hitl.launcher import ServiceProcess
from tests.support import auth
from tests.support.receiver import Receiver

FAST = {
    "HITL_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    "HITL_WEBHOOK_RETRY_SCHEDULE": "0,0.5,0.5,1",
}


@pytest.fixture
async def server(make_server: Callable[..., ServiceProcess]) -> AsyncIterator[ServiceProcess]:
    started = make_server(**FAST).start()
    started.wait_ready()
    yield started


@pytest.fixture
def lg(server: ServiceProcess) -> Any:
    return get_client(url=server.url + "/lg", api_key=auth.ADMIN_KEY)


@pytest.fixture
async def api(
    server: ServiceProcess, http: Callable[[str], httpx.AsyncClient]
) -> httpx.AsyncClient:
    return http(server.url)


def new_thread() -> str:
    return str(uuid.uuid4())


async def test_two_turns_on_one_thread_through_the_sdk(lg: Any, api: httpx.AsyncClient) -> None:
    thread_id = new_thread()
    first = await lg.runs.wait(thread_id, "approval", input={}, if_not_exists="create")
    [interrupt] = first["__interrupt__"]
    assert interrupt["value"] == {"question": "approve?"}

    # A wrong answer is a 422 the client raises; nothing is answered.
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await lg.runs.wait(thread_id, "approval", command=Command(resume={"decision": "maybe"}))
    assert refused.value.response.status_code == 422
    assert refused.value.response.json()["detail"][0]["loc"][:3] == ["body", "command", "resume"]

    done = await lg.runs.wait(
        thread_id, "approval", command=Command(resume={"decision": "approve"})
    )
    assert done["log"] == [["ask", "approve"], ["after"]]
    assert "__interrupt__" not in done

    # The answer went through the inbox's path: answered by the key's principal, audited.
    r = await api.get("/api/v1/requests", params={"thread_id": thread_id})
    [answered] = r.json()["items"]
    assert answered["state"] == "resumed"
    assert answered["response"] == {"decision": "approve", "comment": None} or answered[
        "response"
    ] == {"decision": "approve"}

    # A second turn: new input on the thread at rest starts from its latest checkpoint.
    second = await lg.runs.wait(thread_id, "approval", input={})
    [again] = second["__interrupt__"]
    assert again["id"] != interrupt["id"]
    assert second["log"] == [["ask", "approve"], ["after"]]
    done = await lg.runs.wait(
        thread_id, "approval", command=Command(resume={again["id"]: {"decision": "reject"}})
    )
    assert done["log"] == [["ask", "approve"], ["after"], ["ask", "reject"], ["after"]]

    # The same thread through our own API, and its runs through the client's.
    r = await api.get(f"/api/v1/threads/{thread_id}")
    assert r.json()["status"] == "completed"
    runs = await lg.runs.list(thread_id, limit=10)
    assert [r["status"] for r in runs] == ["success"] * 4
    assert all(r["thread_id"] == thread_id for r in runs)
    one = await lg.runs.get(thread_id, runs[0]["run_id"])
    assert one["run_id"] == runs[0]["run_id"]

    # A second answer to an interrupt already answered: 409, the first answer won.
    with pytest.raises(httpx.HTTPStatusError) as late:
        await lg.runs.wait(
            thread_id, "approval", command=Command(resume={again["id"]: {"decision": "approve"}})
        )
    assert late.value.response.status_code in (409, 422)


async def test_several_interrupts_are_resumed_by_id(lg: Any) -> None:
    thread_id = new_thread()
    first = await lg.runs.wait(thread_id, "parallel", input={}, if_not_exists="create")
    ids = sorted(i["id"] for i in first["__interrupt__"])
    assert len(ids) == 2

    with pytest.raises(httpx.HTTPStatusError) as bare:
        await lg.runs.wait(thread_id, "parallel", command=Command(resume="yes"))
    assert bare.value.response.status_code == 422
    assert all(i in bare.value.response.text for i in ids)

    by_value = {i["value"]["side"]: i["id"] for i in first["__interrupt__"]}
    done = await lg.runs.wait(
        thread_id,
        "parallel",
        command=Command(
            resume={by_value["left"]: "ok", by_value["right"]: {"decision": "approve"}}
        ),
    )
    assert "__interrupt__" not in done
    assert ["after"] in done["log"]


async def test_update_state_supersedes_the_request_it_removes(
    lg: Any, api: httpx.AsyncClient
) -> None:
    thread_id = new_thread()
    await lg.runs.wait(thread_id, "approval", input={}, if_not_exists="create")
    [request] = (await api.get("/api/v1/requests", params={"thread_id": thread_id})).json()["items"]
    assert request["state"] == "pending"

    # As if `ask` had returned this: the interrupt is gone, `after` is next.
    updated = await lg.threads.update_state(thread_id, {"log": [["edited"]]}, as_node="ask")
    assert updated["checkpoint"]["thread_id"] == thread_id
    assert updated["checkpoint"]["checkpoint_id"]
    r = await api.get(f"/api/v1/requests/{request['id']}")
    assert r.json()["state"] == "superseded"
    r = await api.get("/api/v1/audit", params={"subject": thread_id})
    assert "thread.update_state" in r.text

    done = await lg.runs.wait(thread_id, "approval", input=None)
    assert done["log"] == [["edited"], ["after"]]

    # A thread has one graph: a run naming another is a conflict.
    with pytest.raises(httpx.HTTPStatusError) as other:
        await lg.runs.create(thread_id, "slow", input={"seconds": 1})
    assert other.value.response.status_code == 409
    assert "approval" in other.value.response.text


async def test_multitask_reject_and_enqueue(lg: Any) -> None:
    thread_id = new_thread()
    first = await lg.runs.create(thread_id, "slow", input={"seconds": 2}, if_not_exists="create")
    with pytest.raises(httpx.HTTPStatusError) as busy:
        await lg.runs.create(thread_id, "slow", input={"seconds": 0}, multitask_strategy="reject")
    assert busy.value.response.status_code == 409
    queued = await lg.runs.create(
        thread_id, "slow", input={"seconds": 0}, multitask_strategy="enqueue"
    )
    assert queued["status"] == "pending"
    # one more behind it, cancelled with rollback before it starts: forgotten at once
    dropped = await lg.runs.create(thread_id, "slow", input={"seconds": 0})
    await lg.runs.cancel(thread_id, dropped["run_id"], wait=True, action="rollback")
    with pytest.raises(httpx.HTTPStatusError) as gone:
        await lg.runs.get(thread_id, dropped["run_id"])
    assert gone.value.response.status_code == 404
    await lg.runs.join(thread_id, first["run_id"])
    result = await lg.runs.join(thread_id, queued["run_id"])
    # the second turn ran after the first, from its checkpoint (its interrupt left behind)
    assert "__interrupt__" in result
    assert result["log"][0] == ["slow", 2]
    statuses = {r["run_id"]: r["status"] for r in await lg.runs.list(thread_id)}
    assert statuses == {first["run_id"]: "success", queued["run_id"]: "success"}


async def test_cancel_interrupt_and_rollback(lg: Any, api: httpx.AsyncClient) -> None:
    thread_id = new_thread()
    run = await lg.runs.create(thread_id, "slow", input={"seconds": 60}, if_not_exists="create")
    await _until_status(lg, thread_id, run["run_id"], "running")
    cancelled = await lg.runs.cancel(thread_id, run["run_id"], wait=True)
    assert cancelled["status"] == "interrupted"
    thread = (await api.get(f"/api/v1/threads/{thread_id}")).json()
    assert thread["status"] != "running"

    # The thread takes its next turn; a run cancelled with rollback is gone, with its checkpoints.
    history_before = await lg.threads.get_history(thread_id, limit=100)
    run = await lg.runs.create(thread_id, "slow", input={"seconds": 60})
    await _until_status(lg, thread_id, run["run_id"], "running")
    await lg.runs.cancel(thread_id, run["run_id"], wait=True, action="rollback")
    with pytest.raises(httpx.HTTPStatusError) as gone:
        await lg.runs.get(thread_id, run["run_id"])
    assert gone.value.response.status_code == 404
    history_after = await lg.threads.get_history(thread_id, limit=100)
    assert [s["checkpoint"] for s in history_after] == [s["checkpoint"] for s in history_before]

    # A run that ended cannot be cancelled.
    with pytest.raises(httpx.HTTPStatusError) as ended:
        await lg.runs.cancel(thread_id, cancelled["run_id"])
    assert ended.value.response.status_code == 409


async def test_run_webhook_is_signed_at_the_interrupt_and_at_the_end(
    lg: Any, api: httpx.AsyncClient
) -> None:
    async with Receiver() as hook:
        r = await api.post("/api/v1/webhooks", json={"url": hook.url(), "events": []})
        assert r.status_code == 201, r.text
        secret = r.json()["secret"]
        thread_id = new_thread()
        await lg.runs.wait(
            thread_id, "approval", input={}, webhook=hook.url(), if_not_exists="create"
        )
        await lg.runs.wait(
            thread_id,
            "approval",
            command=Command(resume={"decision": "approve"}),
            webhook=hook.url(),
        )
        received = await hook.wait_for(2)
    bodies = [Webhook(secret).verify(m.body, m.headers) for m in received]
    assert [b["thread_status"] for b in bodies] == ["interrupted", "idle"]
    assert bodies[0]["interrupts"][0]["value"] == {"question": "approve?"}
    assert bodies[1]["values"]["log"] == [["ask", "approve"], ["after"]]
    assert all(b["status"] == "success" and b["thread_id"] == thread_id for b in bodies)

    # A webhook that is not one of the caller's endpoints: 422, no run.
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await lg.runs.create(
            new_thread(),
            "approval",
            input={},
            webhook="http://127.0.0.1:9/x",
            if_not_exists="create",
        )
    assert refused.value.response.status_code == 422
    assert "webhook" in refused.value.response.text


async def test_sync_client_and_stateless_runs(server: ServiceProcess) -> None:
    def drive() -> tuple[Any, Any]:
        client = get_sync_client(url=server.url + "/lg", api_key=auth.ADMIN_KEY)
        thread_id = new_thread()
        first = client.runs.wait(thread_id, "approval", input={}, if_not_exists="create")
        done = client.runs.wait(thread_id, "approval", command={"resume": {"decision": "approve"}})
        return first, done

    first, done = await asyncio.to_thread(drive)
    assert first["__interrupt__"]
    assert done["log"][-1] == ["after"]

    lg = get_client(url=server.url + "/lg", api_key=auth.ADMIN_KEY)
    stateless = await lg.runs.wait(None, "approval", input={})
    assert stateless["__interrupt__"][0]["value"] == {"question": "approve?"}


async def test_bad_runs_are_refused_by_name(lg: Any) -> None:
    thread_id = new_thread()
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"assistant_id": "nope", "input": {}}, 404, "nope"),
        ({"assistant_id": "approval", "input": {}, "after_seconds": 5}, 422, "after_seconds"),
        ({"assistant_id": "approval", "input": {}, "checkpoint_id": "x"}, 422, "checkpoint_id"),
        ({"assistant_id": "approval", "input": {}, "multitask_strategy": "x"}, 422, "multitask"),
        ({"assistant_id": "approval", "input": {"fail": "no"}}, 404, thread_id),
    ]
    for body, status, named in cases:
        with pytest.raises(httpx.HTTPStatusError) as refused:
            await lg.http.post(f"/threads/{thread_id}/runs", json=body)
        assert refused.value.response.status_code == status, (body, refused.value.response.text)
        assert named in refused.value.response.text


async def _until_status(lg: Any, thread_id: str, run_id: str, status: str) -> None:
    deadline = time.monotonic() + 30
    while (await lg.runs.get(thread_id, run_id))["status"] != status:
        assert time.monotonic() < deadline, f"run {run_id} never became {status}"
        await asyncio.sleep(0.1)


async def test_many_turns_enqueued_at_once_all_run_in_order(
    lg: Any, api: httpx.AsyncClient
) -> None:
    """Twelve turns sent together: each waits its turn (none left pending, none run twice, none
    at once), whatever the timing of the ones that end meanwhile."""
    thread_id = new_thread()
    await lg.threads.create(thread_id=thread_id)
    created = await asyncio.gather(
        *(lg.runs.create(thread_id, "slow", input={"seconds": 0.05 * (i % 3)}) for i in range(12))
    )
    for run in created:
        await lg.runs.join(thread_id, run["run_id"])
    runs = await lg.runs.list(thread_id, limit=100)
    assert sorted(r["run_id"] for r in runs) == sorted(r["run_id"] for r in created)
    assert {r["status"] for r in runs} == {"success"}
    state = await lg.threads.get_state(thread_id)
    assert len([e for e in state["values"]["log"] if e[0] == "slow"]) == 12
    # every turn but the last left an interrupt behind: superseded by the next turn
    r = await api.get("/api/v1/requests", params={"thread_id": thread_id, "limit": 100})
    states = sorted(q["state"] for q in r.json()["items"])
    assert states == ["pending"] + ["superseded"] * 11


async def test_a_long_wait_keeps_its_connection_with_newlines(
    lg: Any, server: ServiceProcess
) -> None:
    """A run longer than the keep-alive: the wait answers 200 at once, sends newlines while the
    run runs (proxies keep the connection), then the result, which the client reads."""
    thread_id = new_thread()
    body = {"assistant_id": "slow", "input": {"seconds": 6}, "if_not_exists": "create"}
    headers = {"x-api-key": auth.ADMIN_KEY}
    async with (
        httpx.AsyncClient(base_url=server.url + "/lg", timeout=60) as http,
        http.stream("POST", f"/threads/{thread_id}/runs/wait", json=body, headers=headers) as r,
    ):
        assert r.status_code == 200
        assert r.headers["location"].startswith(f"/threads/{thread_id}/runs/")
        chunks = [chunk async for chunk in r.aiter_bytes()]
    assert chunks[0] == b"\n"
    result = json.loads(b"".join(chunks))
    assert result["__interrupt__"][0]["value"] == {"question": "approve?"}
    # the same through the client, joining the run it created
    run = await lg.runs.create(thread_id, "slow", input={"seconds": 6})
    joined = await lg.runs.join(thread_id, run["run_id"])
    assert joined["log"][-1] == ["slow", 6]


async def test_breakpoints_config_and_metadata_reach_langgraph(lg: Any) -> None:
    """interrupt_before stops the run before the node, at rest with no request; a run with no
    input goes on from there. The run's metadata is in the checkpoints it wrote."""
    thread_id = new_thread()
    stopped = await lg.runs.wait(
        thread_id,
        "slow",
        input={"seconds": 0},
        interrupt_before=["ask"],
        metadata={"ticket": "T-7"},
        config={"recursion_limit": 10, "configurable": {"thread_id": "ignored"}},
        if_not_exists="create",
    )
    assert "__interrupt__" not in stopped
    state = await lg.threads.get_state(thread_id)
    assert state["next"] == ["ask"]
    assert state["metadata"]["ticket"] == "T-7"
    assert (await lg.threads.get(thread_id))["status"] == "interrupted"
    went_on = await lg.runs.wait(thread_id, "slow", input=None)
    assert went_on["__interrupt__"][0]["value"] == {"question": "approve?"}
