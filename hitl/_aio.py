"""asyncio helpers."""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait for ``event`` up to ``timeout`` seconds; True if it was set.

    Uses `asyncio.timeout` rather than `asyncio.wait_for`, which on Python 3.11 can swallow a
    cancellation that arrives just as the event is set, leaving a task that never stops.
    """
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
