"""``/ui/threads/{thread_id}/progress``: a thread's runs' progress as it happens, for its page
(Server-Sent Events, same origin, the viewer's session, ``threads:read`` like the page).

Read from the same place as the Agent Server door's streams: the run's chunks on Redis
(`hitl.run_streams`), from whichever process runs it, followed run after run
(`hitl.agent_server.thread_runs`). What a person wants to see of them, small and plain:

- ``run`` (``run_id``): a run started;
- ``node`` (``node``): a step of the graph finished (its ``updates`` chunk);
- ``progress`` (``data``): what a node wrote with LangGraph's stream writer (``custom``);
- ``end`` (``run_id``, ``status``: ``completed``, ``interrupted``, ``failed``): the run
  ended, as its record says; the page then re-reads what waits for people.

A run shows its steps and notes when it is streamed: runs started at the Agent Server door
are, and so is every run a thread gets while someone watches it (migration 0027): while this
stream is open (renewed every `RENEW_SECONDS`), and for a minute after a person answers one of
its requests in the web UI. Another run (a ``runs.wait``, or one that started before anyone
watched) shows its start and its end. The stream starts with the thread's
active run (from its start) or its next one; the ids are the thread event stream's seqs, so
a browser that reconnects (``EventSource`` sends ``Last-Event-ID`` on its own) gets what it
missed, once.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from hitl import runs, threads
from hitl.agent_server import protocol_events as pe
from hitl.agent_server import thread_runs
from hitl.models import Run
from hitl.service import Service
from hitl.ui.auth import service_of
from hitl.ui.live import BUSY_RETRY_MS, RETRY_MS
from hitl.ui.permissions import CanReadThreads

router = APIRouter(include_in_schema=False)

#: How often an open page renews its watch of the thread (which lasts `threads.WATCH_SECONDS`).
RENEW_SECONDS = 10.0

#: A run's status, as a person reads it.
_ENDED = {"done": "completed", "failed": "failed", "cancelled": "cancelled"}


@router.get("/ui/threads/{thread_id}/progress")
async def progress(
    request: Request,
    thread_id: str,
    _: CanReadThreads,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> StreamingResponse:
    service = service_of(request)
    async with service.pool.connection() as conn:
        await threads.get(conn, thread_id)  # 404 for an unknown thread
        active = await runs.active(conn, thread_id)
        latest = None if active else await runs.latest(conn, thread_id)
    after = _after(last_event_id)
    if after is not None:
        first_id = pe.first_run_of(after)
    elif active is not None:
        first_id = active.id
    else:
        first_id = latest.id + 1 if latest is not None else 0
    closing = getattr(request.app.state, "closing", None)
    events = _stream(
        service,
        thread_id,
        first_id,
        -1 if after is None else after,
        closing if isinstance(closing, asyncio.Event) else asyncio.Event(),
    )
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _after(last_event_id: str | None) -> int | None:
    """The seq after which to send, from a browser's ``Last-Event-ID`` (else: from now)."""
    if last_event_id and last_event_id.isdigit() and int(last_event_id) <= pe.MAX_SEQ:
        return int(last_event_id)
    return None


async def _stream(
    service: Service, thread_id: str, first_id: int, after: int, closing: asyncio.Event
) -> AsyncIterator[str]:
    with service.waiting.take() as admitted:
        if not admitted:
            yield f"retry: {BUSY_RETRY_MS}\n\n"
            return
        yield f"retry: {RETRY_MS}\n\n"
        if closing.is_set():
            return
        renew_at = 0.0

        async def renew() -> None:  # the runs the thread gets meanwhile are streamed
            nonlocal renew_at
            if time.monotonic() >= renew_at:
                async with service.pool.connection() as conn:
                    await threads.watch(conn, thread_id)
                renew_at = time.monotonic() + RENEW_SECONDS

        async with service.watch_thread(thread_id) as watch:
            async for run in thread_runs.runs_from(service, thread_id, watch, first_id):
                if closing.is_set():
                    return
                await renew()
                if run is None:
                    yield ": keep-alive\n\n"
                    continue
                async for found in _run_events(service, run):
                    if closing.is_set():
                        return
                    await renew()
                    if found is None:
                        yield ": keep-alive\n\n"
                    elif found[0] > after:
                        yield _frame(*found)


async def _run_events(service: Service, run: Run) -> AsyncIterator[tuple[int, str, Any] | None]:
    """One run's events for a person: (id, event, data); None when a keep-alive is due."""
    public_id = str(run.public_id)
    yield pe.seq_of(run.id, 0, 0), "run", {"run_id": public_id}
    async for chunk in thread_runs.chunks_of(service, run, asked_only=False):
        if chunk is None:
            yield None
            continue
        mode, *namespace = chunk.event.split("|")
        if namespace:  # a subgraph's: its parent's show the steps
            continue
        payload = json.loads(chunk.data)
        if mode == "custom":
            yield pe.seq_of(run.id, chunk.seq + 1, 0), "progress", {"data": payload}
        elif mode == "updates" and isinstance(payload, dict):
            for index, node in enumerate(n for n in payload if n != "__interrupt__"):
                yield pe.seq_of(run.id, chunk.seq + 1, index), "node", {"node": node}
    async with service.pool.connection() as conn:
        try:
            ended: Run = await runs.find(conn, run.thread_id, public_id)
        except runs.RunNotFound:  # rolled back, and forgotten
            ended = run.model_copy(update={"status": "cancelled"})
        thread = await threads.get(conn, run.thread_id)
    status = _ENDED.get(ended.status, ended.status)
    if status == "completed" and thread.status == "interrupted":
        status = "interrupted"
    yield pe.seq_of(run.id, pe.END_POSITION, 0), "end", {"run_id": public_id, "status": status}


def _frame(event_id: int, event: str, data: Any) -> str:
    return f"id: {event_id}\nevent: {event}\ndata: {json.dumps(data, default=str)}\n\n"
