"""Streamed runs through LangGraph's own client, with the run executing in a separate ``hitl
worker`` process and the client on the API process: the chunks travel over Redis. Each stream
mode, joining a background run, resuming a dropped stream with ``Last-Event-ID``."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from hitl.launcher import ServiceProcess
from tests.support import auth

HUMAN = {"messages": [{"type": "human", "content": "hi"}]}


async def test_each_mode_streams_from_the_worker(
    lg: Any, server: ServiceProcess, http: Callable[[str], httpx.AsyncClient]
) -> None:
    api = http(server.url)
    thread_id = str(uuid.uuid4())
    parts = []
    async for part in lg.runs.stream(
        thread_id,
        "chatty",
        input=HUMAN,
        stream_mode=["values", "updates", "messages-tuple", "custom"],
        if_not_exists="create",
    ):
        parts.append(part)
        if part.event == "updates" and "__interrupt__" in part.data:
            # the interrupt's request is there before the client sees the interrupt
            r = await api.get("/api/v1/requests", params={"thread_id": thread_id})
            [request] = r.json()["items"]
            assert request["state"] == "pending"
            assert request["interrupt_id"] == part.data["__interrupt__"][0]["id"]

    events = [p.event for p in parts]
    assert events[0] == "metadata"
    run_id = parts[0].data["run_id"]
    assert events[-1] == "end"
    assert parts[-1].data == {"run_id": run_id, "status": "success"}
    # the chat model's tokens, several chunks of one message, each with its metadata
    tokens = [p.data for p in parts if p.event == "messages"]
    assert len(tokens) > 3
    assert len({message["id"] for message, _ in tokens}) == 1
    assert "".join(message["content"] for message, _ in tokens) == "hello there, how can I help"
    assert all(meta["langgraph_node"] == "talk" for _, meta in tokens)
    assert [p.data for p in parts if p.event == "custom"] == [
        {"progress": "thinking"},
        {"progress": "done"},
    ]
    values = [p.data for p in parts if p.event == "values"]
    assert values[-1]["messages"][-1]["content"] == "hello there, how can I help"
    updates = [p.data for p in parts if p.event == "updates"]
    assert list(updates[0]) == ["talk"]
    assert updates[-1]["__interrupt__"][0]["value"] == {"question": "send it?"}
    # the run shows as the Agent Server's, ended
    assert (await lg.runs.get(thread_id, run_id))["status"] == "success"

    # The answer streamed too: resumed through the same path as the inbox.
    resumed = [
        part
        async for part in lg.runs.stream(
            thread_id, "chatty", command={"resume": {"decision": "approve"}}, stream_mode="updates"
        )
    ]
    assert resumed[-1].event == "end"
    confirm = [p.data["confirm"] for p in resumed if p.event == "updates" and "confirm" in p.data]
    assert confirm[0]["messages"][0]["content"] == "answer: approve"


async def test_join_a_background_run_and_its_failure(lg: Any) -> None:
    thread_id = str(uuid.uuid4())
    run = await lg.runs.create(
        thread_id, "chatty", input=HUMAN, stream_mode=["updates"], if_not_exists="create"
    )
    joined = [part async for part in lg.runs.join_stream(thread_id, run["run_id"])]
    assert joined[0].event == "metadata"
    assert [p.event for p in joined[1:]] == ["updates", "updates", "end"]

    # a run that fails ends its stream with an error event
    failing = str(uuid.uuid4())
    parts = [
        part async for part in lg.runs.stream(failing, "failing", input={}, if_not_exists="create")
    ]
    [error] = [p.data for p in parts if p.event == "error"]
    assert error["error"] == "ValueError"
    assert "always fails" in error["message"]

    # a run that was not streamed (runs.wait) can be joined too: its values at the end
    waited = str(uuid.uuid4())
    await lg.runs.wait(waited, "approval", input={}, if_not_exists="create")
    [only] = await lg.runs.list(waited)
    parts = [part async for part in lg.runs.join_stream(waited, only["run_id"])]
    assert [p.event for p in parts] == ["metadata", "values", "end"]
    assert parts[1].data["__interrupt__"][0]["value"] == {"question": "approve?"}


async def test_a_background_run_is_joined_in_the_modes_the_joiner_asks_for(lg: Any) -> None:
    """``runs.create`` names no modes; a joiner asks for ``updates`` and ``custom`` and gets
    them, and a joiner that names none gets ``values`` (the run's default)."""
    thread_id = str(uuid.uuid4())
    run = await lg.runs.create(thread_id, "chatty", input=HUMAN, if_not_exists="create")
    parts = [
        part
        async for part in lg.runs.join_stream(
            thread_id, run["run_id"], stream_mode=["updates", "custom"]
        )
    ]
    events = [p.event for p in parts]
    assert events[0] == "metadata" and events[-1] == "end"
    assert set(events[1:-1]) == {"updates", "custom"}
    assert [p.data for p in parts if p.event == "custom"] == [
        {"progress": "thinking"},
        {"progress": "done"},
    ]
    updates = [p.data for p in parts if p.event == "updates"]
    assert list(updates[0]) == ["talk"]
    assert updates[-1]["__interrupt__"][0]["value"] == {"question": "send it?"}

    # its tokens too, and a joiner that names no modes gets the run's own (values)
    tokens = [
        part.data
        async for part in lg.runs.join_stream(
            thread_id, run["run_id"], stream_mode="messages-tuple"
        )
        if part.event == "messages"
    ]
    assert "".join(message["content"] for message, _ in tokens) == "hello there, how can I help"
    plain = [part.event async for part in lg.runs.join_stream(thread_id, run["run_id"])]
    assert plain[0] == "metadata" and plain[-1] == "end"
    assert set(plain[1:-1]) == {"values"}


async def test_a_dropped_stream_resumes_after_its_last_event(
    lg: Any, server: ServiceProcess
) -> None:
    """Read part of a run's stream, drop the connection, reconnect with the last event id:
    every event once, in order."""
    thread_id = str(uuid.uuid4())
    run = await lg.runs.create(
        thread_id,
        "chatty",
        input=HUMAN,
        stream_mode=["messages-tuple", "updates"],
        if_not_exists="create",
    )
    path = f"/lg/threads/{thread_id}/runs/{run['run_id']}/stream"
    headers = {"x-api-key": auth.ADMIN_KEY}
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        everything = await _read(http, path, headers)
        first = await _read(http, path, headers, stop_after=4)
        last_id = first[-1][0]
        rest = await _read(http, path, {**headers, "Last-Event-ID": last_id})
    with_ids = [e for e in everything if e[0]]
    assert [e for e in first if e[0]] + [e for e in rest if e[0]] == with_ids
    assert with_ids[-1][1] == "end"
    # the client does the same on its own, given the last id
    resumed = [
        part async for part in lg.runs.join_stream(thread_id, run["run_id"], last_event_id=last_id)
    ]
    assert [p.event for p in resumed[1:]] == [e[1] for e in rest if e[0]]


async def test_unsupported_stream_modes_are_refused_by_name(lg: Any) -> None:
    with pytest.raises(httpx.HTTPStatusError) as refused:
        async for _ in lg.runs.stream(
            str(uuid.uuid4()), "chatty", input=HUMAN, stream_mode="events", if_not_exists="create"
        ):
            pass
    assert refused.value.response.status_code == 422
    assert "events" in refused.value.response.text


async def _read(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], stop_after: int | None = None
) -> list[tuple[str | None, str, Any]]:
    """(id, event, data) of each event of the stream at ``path``; the connection dropped after
    ``stop_after`` events with an id."""
    found: list[tuple[str | None, str, Any]] = []
    async with http.stream("GET", path, headers=headers) as r:
        assert r.status_code == 200, await r.aread()
        assert r.headers["content-type"].startswith("text/event-stream")
        event_id, event = None, ""
        async for line in r.aiter_lines():
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                found.append((event_id, event, json.loads(line[6:])))
                event_id = None
                if stop_after is not None and len([e for e in found if e[0]]) >= stop_after:
                    break
    return found


async def test_a_stream_that_asked_to_cancel_on_disconnect_cancels_its_run(
    lg: Any, server: ServiceProcess
) -> None:
    thread_id = str(uuid.uuid4())
    body = {
        "assistant_id": "slow",
        "input": {"seconds": 60},
        "on_disconnect": "cancel",
        "if_not_exists": "create",
    }
    headers = {"x-api-key": auth.ADMIN_KEY}
    async with (
        httpx.AsyncClient(base_url=server.url + "/lg", timeout=60) as http,
        http.stream("POST", f"/threads/{thread_id}/runs/stream", json=body, headers=headers) as r,
    ):
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                run_id = json.loads(line[6:])["run_id"]
                break  # metadata read: hang up
    deadline = time.monotonic() + 30
    while (run := await lg.runs.get(thread_id, run_id))["status"] != "interrupted":
        assert time.monotonic() < deadline, run
        await asyncio.sleep(0.2)
