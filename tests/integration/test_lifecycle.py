"""Threads through the HTTP API, in-process, on real Postgres and Redis."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from redis.asyncio import Redis

from hitl import bus_names
from hitl.config import Settings
from hitl.service import Service
from tests.support.api import pending, respond, settle, start


async def test_approval_cycle_start_interrupt_answer_complete(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    counter = tmp_path / "count"
    thread_id = await start(client, "approval", {"counter_file": str(counter)})
    thread = await settle(client, thread_id)
    assert thread["status"] == "interrupted"
    [interrupt] = thread["interrupts"]
    assert interrupt["value"] == {"question": "approve?"}
    assert interrupt["response_schema"]["properties"]["decision"]["enum"] == ["approve", "reject"]

    [request] = await pending(client, thread_id)
    assert request["id"] == interrupt["request_id"]
    assert request["interrupt_id"] == interrupt["interrupt_id"]
    assert request["graph"] == "approval"

    r = await respond(client, request["id"], {"decision": "approve", "comment": "fine"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "responded"

    thread = await settle(client, thread_id)
    assert thread["status"] == "completed"
    assert thread["values"]["log"] == [["ask", "approve"], ["after"]]
    assert thread["interrupts"] == []
    r = await client.get(f"/api/v1/requests/{request['id']}")
    assert r.json()["state"] == "resumed"
    assert r.json()["response"] == {"decision": "approve", "comment": "fine"}
    # the interrupting node ran twice (LangGraph re-executes it on resume), the next one once
    assert counter.read_text().split() == ["ask", "ask", "after"]


async def test_invalid_answers_get_422_naming_the_field_and_change_nothing(
    client: httpx.AsyncClient,
) -> None:
    thread_id = await start(client, "approval", {})
    await settle(client, thread_id)
    [request] = await pending(client, thread_id)

    r = await respond(client, request["id"], {"decision": "maybe"})
    assert r.status_code == 422
    [error] = r.json()["detail"]
    assert error["loc"] == ["body", "response", "decision"]
    assert "maybe" in error["msg"]

    r = await respond(client, request["id"], {})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "response", "decision"]

    r = await client.post(f"/api/v1/requests/{request['id']}/respond", json={"answer": 1})
    assert r.status_code == 422  # the body must carry "response"

    r = await client.post(
        f"/api/v1/requests/{request['id']}/respond",
        content=b'{"response": ',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422

    after = (await client.get(f"/api/v1/requests/{request['id']}")).json()
    assert after == request
    assert (await client.get(f"/api/v1/threads/{thread_id}")).json()["status"] == "interrupted"

    r = await respond(client, request["id"], {"decision": "reject"})
    assert r.status_code == 200
    assert (await settle(client, thread_id))["status"] == "completed"


async def test_second_answer_gets_409_with_the_current_state(client: httpx.AsyncClient) -> None:
    thread_id = await start(client, "approval", {})
    await settle(client, thread_id)
    [request] = await pending(client, thread_id)
    assert (await respond(client, request["id"], {"decision": "approve"})).status_code == 200
    r = await respond(client, request["id"], {"decision": "reject"})
    assert r.status_code == 409
    assert r.json()["detail"]["state"] in ("responded", "resumed")
    await settle(client, thread_id)
    r = await respond(client, request["id"], {"decision": "reject"})
    assert r.status_code == 409
    assert r.json()["detail"]["state"] == "resumed"
    assert (await client.get(f"/api/v1/requests/{request['id']}")).json()["response"] == {
        "decision": "approve"
    }


async def test_parallel_interrupts_answered_one_at_a_time(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    counter = tmp_path / "count"
    thread_id = await start(client, "parallel", {"counter_file": str(counter)})
    thread = await settle(client, thread_id)
    assert thread["status"] == "interrupted"
    assert sorted(i["value"]["side"] for i in thread["interrupts"]) == ["left", "right"]
    by_side = {r["value"]["side"]: r for r in await pending(client, thread_id)}

    assert (await respond(client, by_side["left"]["id"], "L")).status_code == 200
    thread = await settle(client, thread_id)
    assert thread["status"] == "interrupted"
    [still] = thread["interrupts"]
    assert still["request_id"] == by_side["right"]["id"]  # same request, not a new one

    assert (
        await respond(client, by_side["right"]["id"], {"decision": "approve"})
    ).status_code == 200
    thread = await settle(client, thread_id)
    assert thread["status"] == "completed"
    assert sorted(map(tuple, thread["values"]["log"])) == [
        ("after",),
        ("left", "L"),
        ("right", "approve"),
    ]
    assert counter.read_text().split().count("after") == 1


async def test_resume_endpoint_answers_several_interrupts_at_once(
    client: httpx.AsyncClient,
) -> None:
    thread_id = await start(client, "parallel", {})
    thread = await settle(client, thread_id)
    ids = {i["value"]["side"]: i["interrupt_id"] for i in thread["interrupts"]}

    r = await client.post(
        f"/api/v1/threads/{thread_id}/resume",
        json={"resume": {ids["left"]: "L", ids["right"]: {"decision": "nope"}}},
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "resume", ids["right"], "decision"]
    assert len(await pending(client, thread_id)) == 2  # all or nothing

    r = await client.post(f"/api/v1/threads/{thread_id}/resume", json={"resume": {"nope": 1}})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "resume", "nope"]

    r = await client.post(
        f"/api/v1/threads/{thread_id}/resume",
        json={"resume": {ids["left"]: "L", ids["right"]: {"decision": "reject"}}},
    )
    assert r.status_code == 202, r.text
    assert {x["state"] for x in r.json()} == {"responded"}
    assert (await settle(client, thread_id))["status"] == "completed"

    r = await client.post(
        f"/api/v1/threads/{thread_id}/resume", json={"resume": {ids["left"]: "x"}}
    )
    assert r.status_code == 409


async def test_a_failing_graph_ends_failed_with_the_error(client: httpx.AsyncClient) -> None:
    thread_id = await start(client, "failing", {})
    thread = await settle(client, thread_id)
    assert thread["status"] == "failed"
    assert thread["error"]["type"] == "ValueError"
    assert "always fails" in thread["error"]["message"]


async def test_failure_after_an_answer_records_the_error(client: httpx.AsyncClient) -> None:
    thread_id = await start(client, "approval", {"fail": True})
    await settle(client, thread_id)
    [request] = await pending(client, thread_id)
    await respond(client, request["id"], {"decision": "approve"})
    thread = await settle(client, thread_id)
    assert thread["status"] == "failed"
    assert "on purpose" in thread["error"]["message"]
    assert (await client.get(f"/api/v1/requests/{request['id']}")).json()["state"] == "resumed"


async def test_lifecycle_events_reach_the_redis_stream(
    client: httpx.AsyncClient, redis_url: str, settings: Settings
) -> None:
    thread_id = await start(client, "approval", {})
    await settle(client, thread_id)
    [request] = await pending(client, thread_id)
    await respond(client, request["id"], {"decision": "approve"})
    await settle(client, thread_id)

    redis = Redis.from_url(redis_url)
    try:
        seen: list[str] = []
        for _ in range(50):
            entries = await redis.xrange(bus_names.events_stream(settings.bus_prefix))
            seen = [
                e[b"type"].decode()
                for _, e in entries
                if e[b"subject"].decode() in (thread_id, request["id"])
            ]
            if "thread.completed" in seen:
                break
            await asyncio.sleep(0.1)
        assert seen == [
            "thread.created",
            "request.created",
            "thread.interrupted",
            "request.responded",
            "thread.completed",
        ]
        data = [
            json.loads(e[b"data"])
            for _, e in await redis.xrange(bus_names.events_stream(settings.bus_prefix))
            if e[b"type"] == b"request.created" and e[b"subject"].decode() == request["id"]
        ]
        assert data[0]["thread_id"] == thread_id
    finally:
        await redis.aclose()


async def test_answer_to_an_interrupt_gone_from_the_checkpoint_is_superseded(
    client: httpx.AsyncClient, service: Service, tmp_path: Path
) -> None:
    counter = tmp_path / "count"
    thread_id = await start(client, "approval", {"counter_file": str(counter)})
    await settle(client, thread_id)
    [request] = await pending(client, thread_id)

    # Someone moves the thread on outside the service (LangGraph's own API): the interrupt is
    # no longer pending in the checkpoint, but the request still is in the inbox.
    graph = service.graphs["approval"]
    config = {"configurable": {"thread_id": thread_id}}
    await graph.aupdate_state(config, {"log": [["ask", "set by an operator"]]}, as_node="ask")
    assert (await graph.aget_state(config)).interrupts == ()

    r = await respond(client, request["id"], {"decision": "reject"})
    assert r.status_code == 200
    thread = await settle(client, thread_id)
    assert thread["status"] == "completed"
    assert (await client.get(f"/api/v1/requests/{request['id']}")).json()["state"] == "superseded"
    # the answer was not applied: the operator's value stands, the node ran once (no resume)
    assert thread["values"]["log"] == [["ask", "set by an operator"], ["after"]]
    assert counter.read_text().split() == ["ask", "after"]
