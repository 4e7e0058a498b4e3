"""Joining a thread's stream at the Agent Server door: ``GET /threads/{id}/stream``
(``client.threads.join_stream``), Server-Sent Events of the thread's runs as they happen, one
run after another (`thread_runs`), open until the client leaves.

Each run, in the Agent Server's framing of a run's stream: ``metadata`` (its ``run_id``), its
chunks as ``runs.stream`` sends them (``values``, ``updates``, ``messages``, ``custom``, ...,
``error`` if it failed), then ``run_done`` (``run_id``, ``status``) where a run's stream would
have sent ``end`` (the stream goes on). A run that was not streamed (``runs.wait``, an answer
from the inbox) shows as its ``metadata``, the thread's ``values`` once it ended (if no run
came after it), and its ``run_done``. ``stream_mode`` picks: ``run_modes`` (all of it, the
default), ``lifecycle`` (``metadata`` and ``run_done`` only), ``state_update`` (``values``
only).

Without ``Last-Event-ID`` the stream starts now: with the thread's active run (from its
start) or its next one. ``Last-Event-ID: -`` starts from the thread's first run. An event's id
is the v3 thread stream's ``seq`` for the same place (`protocol_events`): a client that
reconnects with the last id it saw gets what followed, once and in order (the stream answers
with its ``Location``, so LangGraph's client does so on its own after a drop).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response

from hitl import errors, runs, threads
from hitl.agent_server import protocol_events as pe
from hitl.agent_server import thread_runs, wire
from hitl.agent_server.streams import SSE, held
from hitl.api.deps import CanReadThreads, ServiceDep
from hitl.models import Run
from hitl.service import Service

router = APIRouter(tags=["agent server: thread streams"])

ThreadStreamMode = Literal["run_modes", "lifecycle", "state_update"]
#: The events each mode sends (``run_modes``: all).
_LIFECYCLE = {"metadata", "run_done"}
_STATE = {"values"}
#: The event after a run's end, where a run's own stream sends ``end``.
RUN_DONE = "run_done"


@router.get("/threads/{thread_id}/stream", responses=SSE)
async def join_thread_stream(
    service: ServiceDep,
    _: CanReadThreads,
    thread_id: str,
    stream_mode: Annotated[list[ThreadStreamMode] | None, Query()] = None,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> Response:
    """The thread's runs' events from now on (or after ``Last-Event-ID``; ``-``: from its
    first run), as ``stream_mode`` asks."""
    after = _after(last_event_id)
    async with service.pool.connection() as conn:
        await threads.get(conn, thread_id)  # 404 for an unknown thread
        if after is None:  # from now: the active run, or the next
            active = await runs.active(conn, thread_id)
            latest = None if active else await runs.latest(conn, thread_id)
    if after is not None:
        first_id = pe.first_run_of(after) if after >= 0 else 0
    elif active is not None:
        first_id = active.id
    else:
        first_id = latest.id + 1 if latest is not None else 0
    headers = {
        "Location": f"/threads/{thread_id}/stream",  # where the client reconnects
        "Cache-Control": "no-store",
        "X-Accel-Buffering": "no",
    }
    modes: set[str] = set(stream_mode or ()) or {"run_modes"}
    wanted = None if "run_modes" in modes else _wanted(modes)
    frames = _frames(service, thread_id, first_id, -1 if after is None else after, wanted)
    return await held(service, frames, headers)


def _after(last_event_id: str | None) -> int | None:
    """The id after which to send (-1: all from the first run; None: from now)."""
    if last_event_id is None or last_event_id == "":
        return None
    if last_event_id in ("-", "-1"):
        return -1
    if not (last_event_id.isdigit() and int(last_event_id) <= pe.MAX_SEQ):
        raise errors.InvalidInput(
            [
                {
                    "loc": ["header", "Last-Event-ID"],
                    "msg": "an event id this stream sent, or '-' to start from the first run",
                    "type": "value_error",
                }
            ]
        )
    return int(last_event_id)


def _wanted(modes: set[str]) -> set[str]:
    wanted: set[str] = set()
    if "lifecycle" in modes:
        wanted |= _LIFECYCLE
    if "state_update" in modes:
        wanted |= _STATE
    return wanted


async def _frames(
    service: Service, thread_id: str, first_id: int, after: int, wanted: set[str] | None
) -> AsyncIterator[bytes]:
    async with service.watch_thread(thread_id) as watch:
        async for run in thread_runs.runs_from(service, thread_id, watch, first_id):
            if run is None:
                yield b": keep-alive\n\n"
                continue
            async for found in _run_events(service, run):
                if found is None:
                    yield b": keep-alive\n\n"
                    continue
                event_id, event, data = found
                if event_id > after and (wanted is None or event.split("|")[0] in wanted):
                    yield _frame(event_id, event, data)


async def _run_events(service: Service, run: Run) -> AsyncIterator[tuple[int, str, Any] | None]:
    """One run's events: (id, event, data), None when a keep-alive is due."""
    public_id = str(run.public_id)
    yield pe.seq_of(run.id, 0, 0), "metadata", {"run_id": public_id, "attempt": 1}
    async for chunk in thread_runs.chunks_of(service, run):
        if chunk is None:
            yield None
        else:
            yield pe.seq_of(run.id, chunk.seq + 1, 0), chunk.event, chunk.data
    async with service.pool.connection() as conn:
        try:
            ended: Run = await runs.find(conn, run.thread_id, public_id)
        except runs.RunNotFound:  # rolled back, and forgotten
            ended = run.model_copy(update={"status": "cancelled"})
        later = await runs.run_from(conn, run.thread_id, run.id + 1)
        thread, pending = await threads.get_with_pending(conn, run.thread_id)
    if not run.options.get("stream"):  # its end as its record says (a streamed run's came)
        if ended.status == "failed":
            error = ended.error or {}
            failed = {"error": error.get("type"), "message": error.get("message")}
            yield pe.seq_of(run.id, pe.END_POSITION - 1, 0), "error", failed
        elif later is None:  # the thread's values are this run's
            values = json.loads(wire.result(ended, thread, pending))
            yield pe.seq_of(run.id, pe.END_POSITION - 1, 0), "values", values
    done = {"run_id": public_id, "status": wire.run(ended)["status"]}
    yield pe.seq_of(run.id, pe.END_POSITION, 0), RUN_DONE, done


def _frame(event_id: int, event: str, data: Any) -> bytes:
    encoded = data if isinstance(data, bytes) else json.dumps(data, default=str).encode()
    return f"id: {event_id}\nevent: {event}\n".encode() + b"data: " + encoded + b"\n\n"
