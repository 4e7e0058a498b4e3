"""The Agent Server door's streams hold a waiter slot from their handler on: a burst of
streams opened at once, against a server process with a small ``HITL_MAX_WAITERS``, gets no
more than the cap accepted (the rest: 503 with Retry-After), and the slots come back once the
streams close.

The server runs no graphs, so its runs stay queued and their streams stay open."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from hitl.launcher import ServiceProcess
from tests.support import auth

CAP = 3
BURST = 12


async def test_a_burst_of_streams_gets_no_more_than_the_cap(
    make_server: Callable[..., ServiceProcess],
) -> None:
    server = make_server(HITL_RUNNER="false", HITL_MAX_WAITERS=str(CAP)).start()
    server.wait_ready()
    headers = {"x-api-key": auth.ADMIN_KEY}
    async with httpx.AsyncClient(
        base_url=server.url + "/lg",
        headers=headers,
        timeout=60,
        limits=httpx.Limits(max_connections=None),
    ) as client:
        thread_id = str(uuid.uuid4())
        r = await client.post("/threads", json={"thread_id": thread_id})
        assert r.status_code == 200, r.text
        r = await client.post(f"/threads/{thread_id}/runs", json={"assistant_id": "approval"})
        assert r.status_code == 200, r.text
        run_id = r.json()["run_id"]
        # each of the stream routes: a run's, a thread's join, a thread's events, a new run's
        opens: list[tuple[str, str, Any]] = [
            ("GET", f"/threads/{thread_id}/runs/{run_id}/stream", None),
            ("GET", f"/threads/{thread_id}/stream", None),
            ("POST", f"/threads/{thread_id}/stream/events", {"channels": ["values"]}),
            ("POST", f"/threads/{thread_id}/runs/stream", {"assistant_id": "approval"}),
        ]

        async def burst(n: int) -> list[int]:
            """Open ``n`` streams at once; their statuses once all answered (then closed)."""
            # n connections open first, so that the streams' requests arrive together
            await asyncio.gather(*(client.get(f"/threads/{thread_id}") for _ in range(n)))
            answered: list[int] = []
            all_answered = asyncio.Event()
            close = asyncio.Event()

            async def open_one(i: int) -> None:
                method, path, body = opens[i % len(opens)]
                async with client.stream(method, path, json=body) as r:
                    answered.append(r.status_code)
                    if r.status_code != 200:
                        assert r.status_code == 503, await r.aread()
                        assert r.headers["retry-after"] == "2"
                    if len(answered) == n:
                        all_answered.set()
                    await close.wait()  # accepted streams stay open until all answered

            tasks = [asyncio.create_task(open_one(i)) for i in range(n)]
            await asyncio.wait(
                [asyncio.create_task(all_answered.wait()), *tasks],
                return_when=asyncio.FIRST_COMPLETED,
            )
            close.set()
            await asyncio.gather(*tasks)
            return answered

        statuses = await burst(BURST)
        assert statuses.count(200) == CAP, statuses
        assert statuses.count(503) == BURST - CAP, statuses

        # Closed, the streams give their slots back (the server sees the clients leave a
        # moment later): a burst of CAP gets every one of them.
        statuses = await burst(CAP)
        while statuses.count(200) < CAP:  # (each burst is a round trip: no sleep needed)
            statuses = await burst(CAP)
        assert statuses == [200] * CAP


async def test_a_stream_with_nothing_to_say_keeps_alive(
    make_server: Callable[..., ServiceProcess],
) -> None:
    """A run that sends nothing for longer than the Redis client's read timeout (5 s): its
    stream's blocking reads stay under it, so the stream sends keep-alives, not a failure."""
    server = make_server(HITL_RUNNER="false").start()
    server.wait_ready()
    async with httpx.AsyncClient(
        base_url=server.url + "/lg", headers={"x-api-key": auth.ADMIN_KEY}, timeout=60
    ) as client:
        r = await client.post("/runs", json={"assistant_id": "approval"})
        assert r.status_code == 200, r.text
        run = r.json()
        path = f"/threads/{run['thread_id']}/runs/{run['run_id']}/stream"
        seen = []
        async with client.stream("GET", path) as stream:
            async for line in stream.aiter_lines():
                seen.append(line)
                if len([s for s in seen if s == ": keep-alive"]) == 2:
                    break
        assert seen[0] == "event: metadata"
