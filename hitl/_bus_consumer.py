"""A consumer in a group of the event bus: reading, claiming, dead-lettering, acks, renewals.

See `hitl.bus` for the guarantees; `Bus.subscribe` makes a `Subscription`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from redis.exceptions import ResponseError

from hitl._aio import wait_event
from hitl.bus_envelope import Event, Received, as_str

if TYPE_CHECKING:
    from hitl.bus import Bus

log = logging.getLogger("hitl.bus")


def consumer_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _matcher(types: Iterable[str] | None) -> Any:
    if types is None:
        return lambda _t: True
    exact = {t for t in types if not t.endswith("*")}
    prefixes = tuple(t[:-1] for t in types if t.endswith("*"))
    return lambda t: t in exact or (bool(prefixes) and t.startswith(prefixes))


class Subscription:
    """A consumer in a group: an async iterator of `Received` events (see `Bus.subscribe`).

    Use it with ``async with`` so that the last acks are sent and the events still held are
    given back when it ends; it also renews the events it holds in the background.
    """

    def __init__(
        self,
        bus: Bus,
        group: str,
        types: Iterable[str] | None,
        consumer: str | None,
        batch: int,
        block: float,
        start: str,
        stop: asyncio.Event | None,
    ) -> None:
        self.bus = bus
        self.redis: Any = bus.redis  # redis-py's stubs type replies loosely
        self.group = group
        self.consumer = consumer or consumer_name()
        self.batch = batch
        self._matches = _matcher(types)
        self._start = start
        self._stop = stop or asyncio.Event()
        self._closed = asyncio.Event()
        idle = bus.claim_idle
        self._claim_every = max(0.05, min(idle / 2, 5.0))
        self._block_ms = max(1, int(min(block, self._claim_every) * 1000))
        self._ready = False
        self._next_claim = 0.0
        self._buffer: deque[Received] = deque()
        self._acks: list[str] = []
        self._held: set[str] = set()  # delivered to us, not acked or released
        self._poison: list[tuple[str, Mapping[Any, Any], int, str]] = []
        self._ack_wake = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Subscription:
        await self._ensure_group()
        self._keeper = asyncio.create_task(self._keep(), name=f"hitl-bus-{self.group}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Send the pending acks and give back what is still held (others get it at once)."""
        self._closed.set()
        self._ack_wake.set()
        if self._keeper is not None:
            await asyncio.gather(self._keeper, return_exceptions=True)
            self._keeper = None
        with contextlib.suppress(Exception):
            await self._flush()
            held = [*self._held, *(e.entry_id for e in self._buffer)]
            self._buffer.clear()
            if held:
                await self._claim_for_us(held, idle_ms=int(self.bus.claim_idle * 1000))
            self._held.clear()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Received:
        while not self._buffer:
            if self._stop.is_set() or self._closed.is_set():
                raise StopAsyncIteration
            await self._fill()
        return self._buffer.popleft()

    # -- reading -----------------------------------------------------------------------------

    async def _ensure_group(self) -> None:
        if self._ready:
            return
        try:
            await self.redis.xgroup_create(self.bus.stream, self.group, self._start, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._ready = True

    async def _fill(self) -> None:
        await self._ensure_group()
        await self._flush()
        loop = asyncio.get_running_loop()
        if loop.time() >= self._next_claim:
            self._next_claim = loop.time() + self._claim_every
            if await self._autoclaim():
                return
        try:
            reply = await self.redis.xreadgroup(
                self.group, self.consumer, {self.bus.stream: ">"}, self.batch, self._block_ms
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self._ready = False  # the stream was deleted under us: make the group again
            return
        for _, entries in reply or ():
            for entry_id, fields in entries:
                self._take(as_str(entry_id), fields, 1)
        await self._bury()

    def _take(self, entry_id: str, fields: Mapping[Any, Any] | None, deliveries: int) -> None:
        if fields is None:  # trimmed while pending (Redis 6.2 reports it this way)
            self._acks.append(entry_id)
            return
        try:
            attrs = Event.parse(fields)
        except ValueError as exc:
            self._poison.append((entry_id, fields, deliveries, str(exc)))
            return
        if not self._matches(attrs["type"]):
            self._acks.append(entry_id)
            return
        self._held.add(entry_id)
        self._buffer.append(
            Received(**attrs, entry_id=entry_id, deliveries=deliveries, _subscription=self)
        )

    async def _autoclaim(self) -> bool:
        """Take entries other consumers left idle too long; dead-letter the worn-out ones."""
        stream, idle_ms = self.bus.stream, int(self.bus.claim_idle * 1000)
        reply = await self.redis.xautoclaim(
            stream, self.group, self.consumer, idle_ms, "0-0", count=self.batch
        )
        claimed = [(as_str(i), f) for i, f in reply[1] if i is not None]
        for gone in reply[2] if len(reply) > 2 else ():  # Redis 7: trimmed while pending
            log.info("event %s of group %s was trimmed before it was acked", as_str(gone), stream)
        if not claimed:
            return False
        pending = await self.redis.xpending_range(
            stream,
            self.group,
            claimed[0][0],
            claimed[-1][0],
            len(claimed) + len(self._held),
            consumername=self.consumer,
        )
        counts = {as_str(p["message_id"]): int(p["times_delivered"]) for p in pending}
        for entry_id, fields in claimed:
            deliveries = counts.get(entry_id, 1)
            if fields is not None and deliveries > self.bus.max_deliveries:
                reason = f"delivered {deliveries} times"
                self._poison.append((entry_id, fields, deliveries, reason))
            else:
                self._take(entry_id, fields, deliveries)
        await self._bury()
        return bool(self._buffer)

    async def _bury(self) -> None:
        """Move poison entries to the dead-letter stream (and ack them) atomically."""
        if not self._poison:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            for entry_id, fields, deliveries, reason in self._poison:
                extra = {
                    "deadletterstream": self.bus.stream,
                    "deadlettergroup": self.group,
                    "deadletterentry": entry_id,
                    "deadletterdeliveries": str(deliveries),
                    "deadletterreason": reason,
                }
                moved = {as_str(k): v for k, v in fields.items()} | extra
                pipe.xadd(self.bus.dead_letter, moved, minid=self.bus.minid(), approximate=True)
                pipe.xack(self.bus.stream, self.group, entry_id)
                log.warning(
                    "event entry %s of group %s dead-lettered: %s", entry_id, self.group, reason
                )
            await pipe.execute()
        self._poison = []

    # -- acks, renewals, releases --------------------------------------------------------------

    async def _ack(self, entry_id: str) -> None:
        self._held.discard(entry_id)
        self._acks.append(entry_id)
        if len(self._acks) >= self.batch:
            await self._flush()
        else:
            self._ack_wake.set()

    async def _flush(self) -> None:
        if self._acks:
            ids, self._acks = self._acks, []
            try:
                await self.redis.xack(self.bus.stream, self.group, *ids)
            except BaseException:
                self._acks[:0] = ids  # sent with the next flush
                raise

    async def _release(self, entry_id: str, after: float) -> None:
        """Stop renewing ``entry_id`` and make it look idle for ``claim_idle - after`` s."""
        self._held.discard(entry_id)
        idle = max(0.0, self.bus.claim_idle - after)
        await self._claim_for_us([entry_id], idle_ms=int(idle * 1000))

    async def _claim_for_us(self, ids: list[str], *, idle_ms: int) -> list[str]:
        """``XCLAIM ... JUSTID``: no delivery counted; sets the entries' idle time."""
        if not ids:
            return []
        claimed = await self.redis.xclaim(
            self.bus.stream, self.group, self.consumer, 0, ids, idle=idle_ms, justid=True
        )
        return [as_str(i) for i in claimed]

    async def _renew(self) -> None:
        """Reset the idle time of what we hold, unless another consumer has taken it."""
        if not self._held:
            return
        mine = await self.redis.xpending_range(
            self.bus.stream, self.group, "-", "+", 10_000, consumername=self.consumer
        )
        ours = {as_str(p["message_id"]) for p in mine}
        for lost in self._held - ours:
            log.warning("event entry %s of group %s was taken over", lost, self.group)
        self._held &= ours
        await self._claim_for_us(sorted(self._held), idle_ms=0)

    async def _keep(self) -> None:
        """In the background: send acks soon after they are made; renew what we hold."""
        loop = asyncio.get_running_loop()
        renew_every = self.bus.claim_idle / 4
        next_renewal = loop.time() + renew_every
        while not self._closed.is_set():
            woke = await wait_event(self._ack_wake, max(0.0, next_renewal - loop.time()))
            self._ack_wake.clear()
            try:
                if woke:
                    await wait_event(self._closed, 0.005)  # let a few acks gather
                    await self._flush()
                if loop.time() >= next_renewal:
                    next_renewal = loop.time() + renew_every
                    await self._renew()
            except Exception as exc:  # Redis away: retried at the next turn
                log.warning("bus consumer %s: %s", self.consumer, exc)
                await wait_event(self._closed, 1.0)
