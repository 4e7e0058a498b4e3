"""``?wait=`` on starting and resuming threads: the thread at rest in the same call."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from hitl import requests, threads
from hitl.api import create_app
from hitl.config import Settings
from hitl.service import Service
from tests.support import auth
from tests.support.api import pending, settle, start


async def test_start_and_resume_with_wait_answer_with_the_thread_at_rest(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post(
        "/api/v1/threads", params={"wait": 30}, json={"graph": "approval", "input": {}}
    )
    assert r.status_code == 200, r.text
    thread = r.json()
    assert thread["status"] == "interrupted"
    assert r.headers["location"] == f"/api/v1/threads/{thread['thread_id']}"
    [interrupt] = thread["interrupts"]
    assert interrupt["value"] == {"question": "approve?"}
    [request] = await pending(client, thread["thread_id"])
    assert request["id"] == interrupt["request_id"]

    r = await client.post(
        f"/api/v1/threads/{thread['thread_id']}/resume",
        params={"wait": 30},
        json={"resume": {interrupt["interrupt_id"]: {"decision": "approve"}}},
    )
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "completed"
    assert done["values"]["log"] == [["ask", "approve"], ["after"]]
    assert done["interrupts"] == []
    # what a later read says too
    assert (await client.get(f"/api/v1/threads/{thread['thread_id']}")).json() == done


async def test_a_thread_that_fails_at_once_comes_back_failed(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/v1/threads", params={"wait": 30}, json={"graph": "failing", "input": {}}
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "failed"
    assert r.json()["error"]["type"] == "ValueError"


async def test_resuming_one_of_two_interrupts_with_wait_shows_the_other_still_pending(
    client: httpx.AsyncClient,
) -> None:
    thread_id = await start(client, "parallel", {})
    ids = {i["value"]["side"]: i for i in (await settle(client, thread_id))["interrupts"]}

    r = await client.post(
        f"/api/v1/threads/{thread_id}/resume",
        params={"wait": 30},
        json={"resume": {ids["left"]["interrupt_id"]: "L"}},
    )
    assert r.status_code == 200, r.text
    thread = r.json()
    assert thread["status"] == "interrupted"
    assert [i["request_id"] for i in thread["interrupts"]] == [ids["right"]["request_id"]]
    left = (await client.get(f"/api/v1/requests/{ids['left']['request_id']}")).json()
    assert left["state"] == "resumed"  # the thread came to rest after the answer was applied


async def test_wait_zero_answers_at_once_with_the_thread_as_it_is(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post(
        "/api/v1/threads", params={"wait": 0}, json={"graph": "approval", "input": {}}
    )
    thread = r.json()
    # 202 while queued or running, 200 if the run was quicker than the read
    assert r.status_code == (200 if thread["status"] == "interrupted" else 202), r.text
    assert thread["status"] in ("queued", "running", "interrupted")
    assert set(thread) >= {"thread_id", "graph", "status", "values", "interrupts", "updated_at"}
    assert (await settle(client, thread["thread_id"]))["status"] == "interrupted"


@pytest.mark.parametrize(
    ("wait", "message"),
    [("-1", "greater than or equal to 0"), ("301", "less than or equal to 300"), ("x", "number")],
)
async def test_a_bad_wait_gets_422_naming_it_and_starts_nothing(
    client: httpx.AsyncClient, wait: str, message: str
) -> None:
    r = await client.post(
        "/api/v1/threads",
        params={"wait": wait},
        json={"graph": "approval", "input": {}, "thread_id": "never-started"},
    )
    assert r.status_code == 422, r.text
    [error] = r.json()["detail"]
    assert error["loc"] == ["query", "wait"]
    assert message in error["msg"]
    assert (await client.get("/api/v1/threads/never-started")).status_code == 404

    thread_id = await start(client, "approval", {})
    [interrupt] = (await settle(client, thread_id))["interrupts"]
    r = await client.post(
        f"/api/v1/threads/{thread_id}/resume",
        params={"wait": wait},
        json={"resume": {interrupt["interrupt_id"]: {"decision": "approve"}}},
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["query", "wait"]
    [request] = await pending(client, thread_id)  # still pending, unanswered
    assert request["response"] is None


async def test_wait_keeps_the_errors_of_the_call(client: httpx.AsyncClient) -> None:
    body = {"graph": "approval", "input": {}, "thread_id": "taken"}
    assert (await client.post("/api/v1/threads", params={"wait": 30}, json=body)).status_code == 200
    r = await client.post("/api/v1/threads", params={"wait": 30}, json=body)
    assert r.status_code == 409, r.text

    r = await client.post(
        "/api/v1/threads/missing/resume", params={"wait": 30}, json={"resume": {"x": 1}}
    )
    assert r.status_code == 404, r.text

    [interrupt] = (await client.get("/api/v1/threads/taken")).json()["interrupts"]
    r = await client.post(
        "/api/v1/threads/taken/resume",
        params={"wait": 30},
        json={"resume": {interrupt["interrupt_id"]: {"decision": "maybe"}}},
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "resume", interrupt["interrupt_id"], "decision"]
    assert (await client.get("/api/v1/threads/taken")).json()["status"] == "interrupted"


async def test_wait_works_when_another_process_runs_the_graphs(settings: Settings) -> None:
    """An API without a runner of its own learns of the thread from the notification."""
    app = create_app(settings.model_copy(update={"runner": False}))
    async with (
        app.router.lifespan_context(app),
        Service.open(settings),  # the runner, as a worker would run it
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hitl", headers=auth.BEARER
        ) as api,
    ):
        r = await api.post(
            "/api/v1/threads", params={"wait": 30}, json={"graph": "approval", "input": {}}
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "interrupted"
        [interrupt] = r.json()["interrupts"]
        r = await api.post(
            f"/api/v1/threads/{r.json()['thread_id']}/resume",
            params={"wait": 30},
            json={"resume": {interrupt["interrupt_id"]: {"decision": "reject"}}},
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "completed"


async def test_a_record_committed_just_before_an_answer_is_not_taken_for_its_outcome(
    client: httpx.AsyncClient, service: Service
) -> None:
    """A run's record can commit after an answer started and before it committed (the answer
    waits for the record's lock), so its timestamp can be the later one; the waiter must
    still not take it for the thread after the answer."""
    thread_id = await start(client, "parallel", {})
    ids = {i["value"]["side"]: i for i in (await settle(client, thread_id))["interrupts"]}
    async with service.watch_thread(thread_id) as watch:
        async with service.pool.connection() as conn:
            thread, still = await threads.get_with_pending(conn, thread_id)
        # that record, handed over while the answer is being written: at rest, later-stamped
        stale = thread.model_dump(mode="json")
        stale["updated_at"] = (thread.updated_at + timedelta(hours=1)).isoformat()
        watch.on_record({**stale, "pending": still})
        await requests.respond_thread(
            service.pool, thread_id, {ids["left"]["interrupt_id"]: "L"}, "tests"
        )
        after, pending_after = await watch.settled(30)
    assert after.version > thread.version
    assert [p["id"] for p in pending_after] == [ids["right"]["request_id"]]
    left = (await client.get(f"/api/v1/requests/{ids['left']['request_id']}")).json()
    assert left["state"] == "resumed"
