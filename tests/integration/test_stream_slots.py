"""A stream of the Agent Server door takes its waiter slot in its handler, before its answer
leaves: handlers that all answer before any of their bodies starts (a burst of opens) cannot
accept more streams than ``HITL_MAX_WAITERS``. The slot goes back once the response is over,
however it ends (here: its client is gone before the first event).

The handlers are called as the router calls them, all at once, their responses kept unsent:
the window in which a check in the handler and a take in the body let a burst through. (The
same burst over HTTP against a server process: tests/e2e/test_stream_slots.py.)"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import pytest
from fastapi.responses import Response

from hitl.agent_server import protocol_events as pe
from hitl.agent_server import streams, thread_join, thread_streams
from hitl.config import Settings
from hitl.service import Service

CAP = 3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"runner": False, "max_waiters": CAP})


async def run_through(response: Response) -> None:
    """Serve ``response`` to a client that has already gone."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        pass

    scope = {"type": "http", "asgi": {"spec_version": "2.3"}, "method": "GET", "path": "/"}
    await response(scope, receive, send)


async def test_a_burst_of_stream_handlers_accepts_no_more_than_the_cap(
    client: httpx.AsyncClient, service: Service
) -> None:
    r = await client.post("/lg/threads", json={})
    thread_id = r.json()["thread_id"]
    r = await client.post(f"/lg/threads/{thread_id}/runs", json={"assistant_id": "approval"})
    run_id = r.json()["run_id"]

    def opens() -> list[Any]:
        return [
            streams.join_stream(service, None, thread_id, run_id),  # type: ignore[arg-type]
            thread_join.join_thread_stream(service, None, thread_id),  # type: ignore[arg-type]
            thread_streams.stream_events(
                service,
                None,  # type: ignore[arg-type]
                thread_id,
                pe.Subscription.model_validate({"channels": ["values"]}),
            ),
        ]

    answers: list[Response] = await asyncio.gather(*opens(), *opens(), *opens(), *opens())
    accepted = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code != 200]
    assert len(accepted) == CAP == service.waiting.held
    assert {(a.status_code, a.headers["retry-after"]) for a in refused} == {(503, "2")}

    await asyncio.gather(*(run_through(a) for a in accepted))
    assert service.waiting.held == 0
    # and the slots serve again
    answers = await asyncio.gather(*opens())
    assert [a.status_code for a in answers] == [200] * CAP
    await asyncio.gather(*(run_through(a) for a in answers))
    assert service.waiting.held == 0


async def test_a_busy_process_refuses_a_streamed_run_before_creating_it(
    client: httpx.AsyncClient, service: Service
) -> None:
    """runs.stream with every slot held: 503, and no run is left behind (a client that retries
    on 503 would otherwise queue one run per try)."""
    r = await client.post("/lg/threads", json={})
    thread_id = r.json()["thread_id"]
    with contextlib.ExitStack() as held:
        for _ in range(CAP):
            assert held.enter_context(service.waiting.take())
        body = {"assistant_id": "approval", "input": {}}
        r = await client.post(f"/lg/threads/{thread_id}/runs/stream", json=body)
        assert (r.status_code, r.headers["retry-after"]) == (503, "2"), r.text
        r = await client.post("/lg/runs/stream", json=body)
        assert r.status_code == 503, r.text
    assert (await client.get(f"/lg/threads/{thread_id}/runs")).json() == []
    assert (await client.post("/lg/threads/search", json={})).json() == [
        {**(await client.get(f"/lg/threads/{thread_id}")).json()}
    ]
    assert service.waiting.held == 0
