"""Streamed runs at the Agent Server door, over Server-Sent Events: ``POST
/threads/{id}/runs/stream``, stateless ``POST /runs/stream``, and ``GET
/threads/{id}/runs/{run_id}/stream`` to join a run (and to resume a stream: ``Last-Event-ID``).

The framing is the Agent Server's: an ``event: metadata`` first (with the ``run_id``), then
each chunk as its mode's event (``values``, ``updates``, ``messages``, ``custom``, ``tasks``,
``checkpoints``, ``debug``; ``mode|namespace`` from subgraphs), an ``error`` event if the run
failed, and ``end``. Each chunk's ``id`` is its entry in the run's Redis stream
(`hitl.run_streams`): the run may execute in any worker, the client may be connected to any
API process, and a client that reconnects with the last id it saw gets what followed, once and
in order, within the stream's window. A client further behind than the window gets a
``metadata`` event saying how many chunks it missed, then the rest. A slow client slows only
itself: it reads the stream at its own pace, and the runner never waits for it.

The run's chunk that shows an interrupt comes after the run is recorded, so its request is in
the inbox (and its webhooks queued) by the time the client sees it.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse, Response

from hitl import errors, run_streams, runs, threads
from hitl.agent_server import runs as agent_runs
from hitl.agent_server import wire
from hitl.agent_server.run_bodies import RunCreate, StreamModeName
from hitl.api.deps import CanReadThreads, CanWriteThreads, ServiceDep
from hitl.auth import Principal
from hitl.models import Run
from hitl.service import Service

router = APIRouter(tags=["agent server: streams"])


class EventStream(agent_runs.Holding):
    """Server-Sent Events that release what they hold (a waiter slot) once the response is
    over, however it ends."""

    media_type = "text/event-stream"


# The SSE routes' 200, as the OpenAPI document describes it (errors stay JSON).
SSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-Sent Events.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


def busy(headers: dict[str, str]) -> JSONResponse:
    """The answer of a stream this process has no room for (it holds ``HITL_MAX_WAITERS``
    streams and waits): 503, come back after ``Retry-After``."""
    return JSONResponse(
        {"detail": "too many streams and waits are open in this process: retry later"},
        status_code=503,
        headers={"Retry-After": str(agent_runs.BUSY_RETRY_SECONDS), **headers},
    )


async def slot(service: Service) -> contextlib.AsyncExitStack | None:
    """One of the process's waiter slots, held until the returned stack is closed; None when
    none is free."""
    stack = contextlib.AsyncExitStack()
    if not stack.enter_context(service.waiting.take()):
        await stack.aclose()
        return None
    return stack


async def held(
    service: Service,
    events: AsyncIterator[bytes],
    headers: dict[str, str],
    taken: contextlib.AsyncExitStack | None = None,
) -> Response:
    """``events`` as an event stream that holds one of the process's waiter slots from the
    handler on (so a burst of opens cannot pass ``HITL_MAX_WAITERS``: the slot is taken before
    the answer leaves) until the stream ends or its client goes away; `busy` when none is
    free (``events`` is then never started). ``taken``: a slot the handler took already."""
    stack = taken or await slot(service)
    if stack is None:
        return busy(headers)
    return EventStream(stack, events, headers=headers)


async def _start_streamed(
    service: Service, principal: Principal, thread_id: str, body: RunCreate
) -> Response:
    """Create a run and stream it, holding a slot first: a busy process answers 503 before
    any run exists, so a client that retries the call does not leave runs behind."""
    taken = await slot(service)
    if taken is None:
        return busy({})
    try:
        run = await agent_runs.start(service, principal, thread_id, body, streamed=True)
    except BaseException:
        await taken.aclose()
        raise
    cancel = body.on_disconnect == "cancel"
    return await _streamed(service, run, cancel_on_disconnect=cancel, taken=taken)


# How long a read waits for a chunk before the stream sends a keep-alive comment (and looks
# whether the run ended without its end: a stream expired, or lost with Redis).
KEEPALIVE_SECONDS = 5.0


@router.post("/threads/{thread_id}/runs/stream", responses=SSE)
async def stream_run(
    service: ServiceDep, principal: CanWriteThreads, thread_id: str, body: RunCreate
) -> Response:
    """Create a run and stream it (``stream_mode``, ``stream_subgraphs``)."""
    return await _start_streamed(service, principal, thread_id, body)


@router.post("/runs/stream", responses=SSE)
async def stream_stateless_run(
    service: ServiceDep, principal: CanWriteThreads, body: RunCreate
) -> Response:
    """A run on a new thread, streamed (the thread stays, so its interrupts can be answered)."""
    body.if_not_exists = "create"
    return await _start_streamed(service, principal, str(uuid.uuid4()), body)


@router.get("/threads/{thread_id}/runs/{run_id}/stream", responses=SSE)
async def join_stream(
    service: ServiceDep,
    _: CanReadThreads,
    thread_id: str,
    run_id: str,
    # (the client sends ``stream_mode=`` when it names none)
    stream_mode: Annotated[list[StreamModeName | Literal[""]] | None, Query()] = None,
    cancel_on_disconnect: bool = False,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> Response:
    """The run's stream from its start (or after ``Last-Event-ID``), only ``stream_mode``'s
    events if given."""
    async with service.pool.connection() as conn:
        run = await runs.find(conn, thread_id, run_id)
    return await _streamed(
        service,
        run,
        after=last_event_id or "0",
        modes={m for m in stream_mode or () if m},
        cancel_on_disconnect=cancel_on_disconnect,
    )


async def _streamed(
    service: Service,
    run: Run,
    *,
    after: str = "0",
    modes: set[str] | None = None,
    cancel_on_disconnect: bool = False,
    taken: contextlib.AsyncExitStack | None = None,
) -> Response:
    base = f"/threads/{run.thread_id}/runs/{run.public_id}"
    headers = {
        "Location": f"{base}/stream",  # where the client reconnects (relative to the door)
        "Content-Location": base,
        "Cache-Control": "no-store",
        "X-Accel-Buffering": "no",
    }
    events = _events(service, run, _valid(after), modes or set(), cancel_on_disconnect)
    return await held(service, events, headers, taken)


async def _events(
    service: Service, run: Run, after: str, modes: set[str], cancel_on_disconnect: bool
) -> AsyncIterator[bytes]:
    ended = False
    try:
        yield _frame("metadata", {"run_id": str(run.public_id), "attempt": 1})
        if not run.options.get("stream"):
            # a run not asked to be streamed (``runs.wait``, the inbox's resumes): its
            # values once it ends
            yield await _unstreamed(service, run)
            ended = True
            return
        expected = 0 if after == "0" else None  # the next chunk's seq, when known
        # the modes asked for, or the run's caller's
        wanted = _events_of(modes) if modes else run_streams.asked_events(run.options["stream"])
        public_id = str(run.public_id)
        while True:
            chunks = await service.streams.read(public_id, after, int(KEEPALIVE_SECONDS * 1000))
            if not chunks:
                if await _ended_unseen(service, run):
                    yield _frame(run_streams.END, {"run_id": public_id, "status": "success"})
                    ended = True
                    return
                yield b": keep-alive\n\n"
                continue
            # one write for what one read brought: a send costs more than its bytes
            frames = []
            for chunk in chunks:
                if expected is not None and chunk.seq > expected:
                    missed = chunk.seq - expected
                    frames.append(
                        _frame("metadata", {"run_id": public_id, "missed_events": missed})
                    )
                expected, after = chunk.seq + 1, chunk.id
                if chunk.event.split("|")[0] not in wanted:
                    if chunk.event not in (run_streams.END, "error"):
                        continue
                frames.append(_frame(chunk.event, chunk.data, chunk.id))
                if chunk.event == run_streams.END:
                    ended = True
                    break
            if frames:
                yield b"".join(frames)
            if ended:
                return
    finally:
        if cancel_on_disconnect and not ended:
            # the client went away: cancel its run (shielded: the stream is being cancelled)
            with anyio.CancelScope(shield=True):
                await _cancel(service, run)


async def _cancel(service: Service, run: Run) -> None:
    async with service.pool.connection() as conn:
        with contextlib.suppress(errors.Conflict, runs.RunNotFound):  # it ended meanwhile
            await runs.cancel(conn, run.thread_id, str(run.public_id), "interrupt")


async def _unstreamed(service: Service, run: Run) -> bytes:
    ended = await agent_runs.ended(service, run)
    async with service.pool.connection() as conn:
        thread, pending = await threads.get_with_pending(conn, run.thread_id)
    values = json.loads(wire.result(ended, thread, pending))
    status = wire.run(ended or run)["status"]
    end = {"run_id": str(run.public_id), "status": status}
    return _frame("values", values) + _frame(run_streams.END, end)


async def _ended_unseen(service: Service, run: Run) -> bool:
    """Whether the run ended while its stream shows nothing more (expired, or lost)."""
    async with service.pool.connection() as conn:
        try:
            found = await runs.find(conn, run.thread_id, str(run.public_id))
        except runs.RunNotFound:
            return True
    return found.status in wire.ENDED


def _events_of(modes: set[str]) -> set[str]:
    """The events the Agent Server's modes are sent as."""
    return {run_streams.MODES.get(m, m) for m in modes}


def _valid(event_id: str) -> str:
    """A Last-Event-ID as the client sent it, if it is a stream entry id; else from the start."""
    left, _, right = event_id.partition("-")
    return event_id if left.isdigit() and (right.isdigit() or not right) else "0"


def _frame(event: str, data: Any, event_id: str | None = None) -> bytes:
    encoded = data if isinstance(data, bytes) else json.dumps(data, default=str).encode()
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\n".encode() + b"data: " + encoded + b"\n\n"
