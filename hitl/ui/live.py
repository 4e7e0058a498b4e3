"""``/ui/events``: Server-Sent Events telling open pages that requests or threads changed.

Fed by the Postgres NOTIFY channels the service already listens on (`hitl.pg_channels`), so every
replica's browsers hear about changes made by any replica. A message carries no data worth
trusting: it only tells the page to re-read its fragment, which is the truth.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from hitl import pg_channels
from hitl.service import Service
from hitl.ui.auth import service_of
from hitl.ui.permissions import CanReadRequests

router = APIRouter(include_in_schema=False)

CHANNELS = (pg_channels.THREADS_CHANNEL, pg_channels.EVENTS_CHANNEL)
HEARTBEAT_SECONDS = 15.0
CHECK_SECONDS = 1.0  # how often an idle stream looks whether the server is closing
COALESCE_SECONDS = 0.15  # a burst of notifications becomes one message
RETRY_MS = 2000  # how soon a browser reconnects after the stream ends
# When the process has HITL_MAX_WAITERS waits and streams open, a stream ends at once asking
# the browser to come back this much later (an EventSource gives up for good on an error
# status such as 503, but reconnects after a stream that ends).
BUSY_RETRY_MS = 30_000


@router.get("/ui/events")
async def events(request: Request, _: CanReadRequests) -> StreamingResponse:
    """For ``requests:read``, like the pages it refreshes: a change says when someone acts."""
    service = service_of(request)
    # Open streams hold a server's graceful shutdown until its timeout; whoever runs the server
    # can set ``app.state.closing`` (an asyncio.Event) when a shutdown starts to end them now.
    closing = getattr(request.app.state, "closing", None)
    return StreamingResponse(
        _stream(service, closing if isinstance(closing, asyncio.Event) else asyncio.Event()),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _stream(service: Service, closing: asyncio.Event) -> AsyncIterator[str]:
    with service.waiting.take() as admitted:
        if not admitted:
            yield f"retry: {BUSY_RETRY_MS}\n\n"
            return
        async for message in _changes(service, closing):
            yield message


async def _changes(service: Service, closing: asyncio.Event) -> AsyncIterator[str]:
    changed: asyncio.Queue[str] = asyncio.Queue(maxsize=100)

    def listener_for(channel: str) -> Callable[[str], None]:
        def listen(_payload: str) -> None:
            if not changed.full():
                changed.put_nowait(channel)

        return listen

    listeners = {channel: listener_for(channel) for channel in CHANNELS}
    for channel, listener in listeners.items():
        service.notifier.add_listener(channel, listener)
    loop = asyncio.get_running_loop()
    try:
        yield f"retry: {RETRY_MS}\n\n"
        quiet_since = loop.time()
        while not closing.is_set():
            try:
                first = await asyncio.wait_for(changed.get(), CHECK_SECONDS)
            except TimeoutError:
                if loop.time() - quiet_since >= HEARTBEAT_SECONDS:
                    quiet_since = loop.time()
                    yield ": keep-alive\n\n"
                continue
            await asyncio.sleep(COALESCE_SECONDS)
            seen = {first}
            while not changed.empty():
                seen.add(changed.get_nowait())
            quiet_since = loop.time()
            yield f"event: change\ndata: {json.dumps({'channels': sorted(seen)})}\n\n"
    finally:
        for channel, listener in listeners.items():
            service.notifier.remove_listener(channel, listener)
