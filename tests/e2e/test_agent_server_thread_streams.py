"""A thread streamed through LangGraph's own client (``client.threads.stream``, the v3
protocol), with the runs executing in a separate ``hitl worker`` process: a run started, its
state, its chat model's tokens and its interrupt seen, a wrong answer refused, the right one
taken through the inbox's answer path, the resumed run followed to its end; a reconnect with
``since``."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client

from hitl.launcher import ServiceProcess
from tests.support import auth

HUMAN = {"messages": [{"type": "human", "content": "hi"}]}


async def test_a_thread_streams_its_runs_and_takes_an_answer(
    lg: Any, server: ServiceProcess, http: Callable[[str], httpx.AsyncClient]
) -> None:
    api = http(server.url)
    async with lg.threads.stream(assistant_id="chatty") as thread:
        started = await thread.run.start(input=HUMAN)
        # every event of the run, in order, until it stops at its interrupt
        events = []
        async with asyncio.timeout(60):
            async for event in thread.events:
                events.append(event)
                if event["method"] == "input.requested" or (
                    event["method"] == "lifecycle"
                    and event["params"]["data"]["event"] in ("completed", "failed")
                ):
                    break
        await _interrupted(thread)  # the client's own watcher sees it too
        methods = [e["method"] for e in events]
        assert methods[0] == "lifecycle"
        assert events[0]["params"]["data"]["event"] == "running"
        assert methods[-2:] == ["lifecycle", "input.requested"]
        assert events[-2]["params"]["data"]["event"] == "interrupted"
        seqs = [e["seq"] for e in events]
        assert seqs == sorted(set(seqs))
        values = [e["params"]["data"] for e in events if e["method"] == "values"]
        assert values[-1]["messages"][-1]["content"] == "hello there, how can I help"
        assert "__interrupt__" not in values[-1]
        updates = [e["params"]["data"] for e in events if e["method"] == "updates"]
        assert updates[0]["node"] == "talk"
        custom = [e["params"]["data"]["payload"] for e in events if e["method"] == "custom"]
        assert custom == [{"progress": "thinking"}, {"progress": "done"}]

        # the interrupt, as the client holds it: its request is in the inbox
        [asked] = thread.interrupts
        assert asked["value"] == {"question": "send it?"}
        assert asked["namespace"] == []
        r = await api.get("/api/v1/requests", params={"thread_id": thread.thread_id})
        [request] = r.json()["items"]
        assert request["interrupt_id"] == asked["interrupt_id"]
        assert request["state"] == "pending"

        # the state, as the values projection starts with it
        async for snapshot in thread.values:
            assert snapshot["messages"][0]["content"] == "hi"
            break

        # a wrong answer is refused by its field, and changes nothing
        with pytest.raises(httpx.HTTPStatusError) as refused:
            await thread.run.respond({"decision": "maybe"})
        assert refused.value.response.status_code == 422
        [problem] = refused.value.response.json()["detail"]
        assert problem["loc"][:4] == ["body", "params", "response", "decision"]
        assert thread.interrupted

        # the right one resumes the thread, streamed, to its end
        resumed = await thread.run.respond({"decision": "approve"})
        assert resumed["run_id"] != started["run_id"]
        async with asyncio.timeout(60):
            final = await thread.output
        assert final["messages"][-1]["content"] == "answer: approve"
        assert not thread.interrupts

    r = await api.get(f"/api/v1/requests/{request['id']}")
    assert r.json()["state"] != "pending"
    assert r.json()["response"] == {"decision": "approve"}

    # first answer wins: the same interrupt answered again is a conflict
    again = {
        "id": 1,
        "method": "input.respond",
        "params": {"interrupt_id": asked["interrupt_id"], "namespace": [], "response": {}},
    }
    lg_http = http(server.url + "/lg")
    r = await lg_http.post(f"/threads/{thread.thread_id}/commands", json=again)
    assert r.status_code == 409, r.text

    # a reconnect with ``since`` gets what followed that event, the same events again (but the
    # interrupt answered since, which is requested no more)
    since = events[2]["seq"]
    replayed = await _read(
        lg_http, thread.thread_id, {"channels": ["values", "lifecycle", "input"]}, since
    )
    wanted = [e for e in events if e["seq"] > since and e["method"] in ("values", "lifecycle")]
    assert [e["event_id"] for e in replayed[: len(wanted)]] == [e["event_id"] for e in wanted]
    assert replayed[len(wanted)]["params"]["data"]["event"] == "running"  # the resumed run


async def test_a_chat_models_tokens_stream_as_messages(lg: Any) -> None:
    """``thread.messages``: one stream a message, its text in the tokens the model yielded
    (in the worker), each a delta as it came, the message whole at its end."""
    async with lg.threads.stream(assistant_id="chatty") as thread:
        seen: asyncio.Queue[Any] = asyncio.Queue()

        async def follow() -> None:  # (the projection feeds each message as it is iterated)
            async for each in thread.messages:
                seen.put_nowait(each)

        following = asyncio.create_task(follow())
        await thread.run.start(input=HUMAN)
        async with asyncio.timeout(60):
            message = await seen.get()
            deltas = [delta async for delta in message.text]
            reply = await message.output
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
    assert len(deltas) > 3
    assert "".join(deltas) == "hello there, how can I help"
    assert reply.text == "hello there, how can I help"
    assert message.node == "talk"
    assert message.message_id == reply.id


async def test_answers_from_the_inbox_and_failures_show_in_the_stream(
    lg: Any, server: ServiceProcess, http: Callable[[str], httpx.AsyncClient]
) -> None:
    """Answering needs the answer scope; an answer given in the inbox resumes the thread in a
    run that was not streamed, which the stream shows all the same; a failed run fails the
    client's output."""
    api = http(server.url)
    key = await auth.make_key(api, "threads:read", "threads:write", name="writer")
    writer = get_client(url=server.url + "/lg", api_key=key)
    async with writer.threads.stream(assistant_id="approval") as thread:
        await thread.run.start(input={})
        await _interrupted(thread)
        with pytest.raises(httpx.HTTPStatusError) as refused:
            await thread.run.respond({"decision": "approve"})
        assert refused.value.response.status_code == 403
        assert "requests:answer" in refused.value.response.text

        # answered in the inbox instead: the run that applies it was not asked to stream
        r = await api.get("/api/v1/requests", params={"thread_id": thread.thread_id})
        [request] = r.json()["items"]
        r = await api.post(
            f"/api/v1/requests/{request['id']}/respond", json={"response": {"decision": "approve"}}
        )
        assert r.status_code == 200, r.text
        async with asyncio.timeout(60):
            final = await thread.output
        assert final["log"] == [["ask", "approve"], ["after"]]

    async with lg.threads.stream(assistant_id="failing") as failing:
        await failing.run.start(input={})
        with pytest.raises(RuntimeError, match="always fails"):
            async with asyncio.timeout(60):
                await failing.output

    # unknown commands are refused by name
    r = await http(server.url + "/lg").post(
        f"/threads/{thread.thread_id}/commands", json={"id": 1, "method": "state.fork"}
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "method"]


async def _interrupted(thread: Any) -> None:
    """Wait for the client to see the thread interrupted (a minute at most)."""
    for _ in range(1200):
        if thread.interrupted:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the client never saw the thread interrupted")


async def _read(
    http: httpx.AsyncClient, thread_id: str, channels: dict[str, Any], since: int
) -> list[dict[str, Any]]:
    """The events of the thread's stream after ``since``, until the run after the first
    ``interrupted`` has ended."""
    found: list[dict[str, Any]] = []
    body = {**channels, "since": since}
    async with (
        asyncio.timeout(60),
        http.stream("POST", f"/threads/{thread_id}/stream/events", json=body) as r,
    ):
        assert r.status_code == 200, await r.aread()
        async for line in r.aiter_lines():
            if not line.startswith("data: "):
                continue
            found.append(json.loads(line[6:]))
            if (
                found[-1]["method"] == "lifecycle"
                and found[-1]["params"]["data"]["event"] == "completed"
            ):
                break
    return found


async def test_join_a_threads_stream(
    lg: Any, server: ServiceProcess, http: Callable[[str], httpx.AsyncClient]
) -> None:
    """``threads.join_stream``: the thread's runs as they happen, each framed as its run's
    stream with a ``run_done`` at its end; from now, from the first run (``-``), or after
    the last event seen; ``lifecycle`` only."""
    thread_id = (await lg.threads.create())["thread_id"]
    modes = ["values", "updates", "messages-tuple", "custom"]
    first = await lg.runs.create(thread_id, "chatty", input=HUMAN, stream_mode=modes)
    await lg.runs.join(thread_id, first["run_id"])  # (stopped at its interrupt)

    # opened now, it starts with the thread's next run: the one before is not replayed
    lg_http = http(server.url + "/lg")
    async with (
        asyncio.timeout(60),
        lg_http.stream("GET", f"/threads/{thread_id}/stream") as r,
    ):
        assert r.status_code == 200, await r.aread()
        assert r.headers["location"] == f"/threads/{thread_id}/stream"
        second = await lg.runs.create(
            thread_id, "chatty", command={"resume": {"decision": "approve"}}, stream_mode=modes
        )
        live = await _sse_until_done(r, runs=1)
    assert live[0] == ("metadata", {"run_id": second["run_id"], "attempt": 1})
    assert live[-1] == ("run_done", {"run_id": second["run_id"], "status": "success"})

    # from the first run: both, each as its stream, every event once and in order
    parts = await _joined(await lg.threads.join_stream(thread_id, last_event_id="-"), runs=2)
    events = [p.event for p in parts]
    ids = [int(p.id) for p in parts]
    assert ids == sorted(set(ids))
    assert events[0] == "metadata" and parts[0].data["run_id"] == first["run_id"]
    cut = events.index("run_done") + 1
    assert parts[cut - 1].data == {"run_id": first["run_id"], "status": "success"}
    tokens = [p.data for p in parts[:cut] if p.event == "messages"]
    assert len(tokens) > 3
    assert "".join(m["content"] for m, _ in tokens) == "hello there, how can I help"
    assert [p.data for p in parts[:cut] if p.event == "custom"] == [
        {"progress": "thinking"},
        {"progress": "done"},
    ]
    assert any("__interrupt__" in p.data for p in parts[:cut] if p.event == "updates")
    assert [(p.event, p.data) for p in parts[cut:]] == live

    # after the last event seen: what followed it, once, in order
    seen = parts[cut // 2]
    rest = await _joined(await lg.threads.join_stream(thread_id, last_event_id=seen.id), runs=2)
    assert [p.id for p in rest] == [p.id for p in parts[cut // 2 + 1 :]]

    # only the runs' starts and ends
    lifecycle = await _joined(
        await lg.threads.join_stream(thread_id, last_event_id="-", stream_mode="lifecycle"),
        runs=2,
    )
    assert [p.event for p in lifecycle] == ["metadata", "run_done"] * 2

    # an event id this stream did not send is refused by its header
    r = await lg_http.get(f"/threads/{thread_id}/stream", headers={"Last-Event-ID": "x"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["header", "Last-Event-ID"]


async def _joined(stream: AsyncIterator[Any], runs: int) -> list[Any]:
    """A thread's stream's parts until ``runs`` runs are done."""
    parts = []
    async with asyncio.timeout(60):
        async for part in stream:
            parts.append(part)
            if sum(p.event == "run_done" for p in parts) == runs:
                break
    return parts


async def _sse_until_done(r: httpx.Response, runs: int) -> list[tuple[str, Any]]:
    """A thread's stream's (event, data) as read off the wire until ``runs`` runs are done."""
    found: list[tuple[str, Any]] = []
    event = ""
    async for line in r.aiter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            found.append((event, json.loads(line[6:])))
            if sum(e == "run_done" for e, _ in found) == runs:
                break
    return found
