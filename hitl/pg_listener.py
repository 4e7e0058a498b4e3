"""Postgres LISTEN/NOTIFY wake-ups on one dedicated connection.

Notifications only shorten waits: every waiter also polls, so a notification lost while the
connection was down costs latency, never correctness.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable

import psycopg

log = logging.getLogger("hitl.notify")

Listener = Callable[[str], None]


class Notifier:
    """Dispatches NOTIFY payloads on a few channels to in-process listeners."""

    def __init__(self, url: str, channels: Iterable[str]) -> None:
        self._url = url
        self._channels = list(channels)
        self._listeners: dict[str, list[Listener]] = defaultdict(list)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.connected = asyncio.Event()

    def add_listener(self, channel: str, listener: Listener) -> None:
        self._listeners[channel].append(listener)

    def remove_listener(self, channel: str, listener: Listener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners[channel].remove(listener)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="hitl-notifier")

    async def stop(self) -> None:
        self._stopping = True
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _fire_all(self) -> None:
        for listeners in self._listeners.values():
            for listener in list(listeners):
                listener("")

    async def _listen(self) -> None:
        while not self._stopping:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True
                ) as conn:
                    for channel in self._channels:
                        await conn.execute(
                            psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(channel))
                        )
                    self.connected.set()
                    self._fire_all()  # anything may have happened while we were not listening
                    async for note in conn.notifies():
                        if self._stopping:
                            return
                        for listener in list(self._listeners.get(note.channel, ())):
                            listener(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connected.clear()
                log.warning("notification connection lost (%s); reconnecting", exc)
                await asyncio.sleep(1.0)
