"""The event bus on a Redis Stream: CloudEvents-style envelopes, consumer groups, explicit acks.

::

    bus = Bus.from_settings(redis, settings)
    await bus.publish("code.analysis.needed", {"diff": diff}, subject="change-42")

    async with bus.subscribe("hitl:agent:reviewer", ["code.analysis.needed"]) as events:
        async for event in events:
            ...                      # event.id, .type, .source, .subject, .time, .data
            await event.ack()

Every event goes to one stream (``hitl:events``): lifecycle events relayed from the Postgres
outbox (`hitl.events`) and events agents publish. A group reads the whole stream in order and
sees the types it asked for; the others are acknowledged for it. Delivery is at least once:

* an event is pending in its group until acked; while a consumer holds it, the subscription
  renews it (``XCLAIM ... JUSTID``, which does not count as a delivery), so a slow handler
  (one that waits for a person) keeps it;
* an event a consumer stopped renewing (it died, or `Received.release` gave it back) for
  ``claim_idle`` seconds is taken by another consumer of the group (``XAUTOCLAIM``);
* an event delivered more than ``max_deliveries`` times goes to the dead-letter stream;
* entries older than ``retention`` seconds are trimmed (``XADD ... MINID ~``).

Acks are buffered and sent as one ``XACK`` before the next read (or within a few
milliseconds): a crash right after `Received.ack` may deliver the event again, which
at-least-once consumers (deduplicating by event id) take in their stride.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from hitl import bus_names
from hitl._bus_consumer import Subscription
from hitl.bus_envelope import DeadLetter, Event, JSONText, Received, as_str, new_event_id, now

if TYPE_CHECKING:
    from hitl.config import Settings

# The envelope's types are part of the bus's interface: `from hitl.bus import Event` works.
__all__ = [
    "Bus",
    "DeadLetter",
    "Event",
    "JSONText",
    "Received",
    "Subscription",
    "new_event_id",
    "now",
]

log = logging.getLogger("hitl.bus")


class Bus:
    """Publish to and subscribe from the event stream of one prefix on one Redis."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = bus_names.DEFAULT_PREFIX,
        source: str = "hitl",
        claim_idle: float = 60.0,
        max_deliveries: int = 5,
        retention: float = 86400.0,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.source = source
        self.claim_idle = claim_idle
        self.max_deliveries = max_deliveries
        self.retention = retention
        self.stream = bus_names.events_stream(prefix)
        self.dead_letter = bus_names.dead_letter_stream(prefix)

    @classmethod
    def from_settings(cls, redis: Redis, settings: Settings, *, source: str = "hitl") -> Bus:
        return cls(
            redis,
            prefix=settings.bus_prefix,
            source=source,
            claim_idle=settings.bus_claim_idle_seconds,
            max_deliveries=settings.bus_max_deliveries,
            retention=settings.bus_retention_seconds,
        )

    def event(
        self, type: str, data: Any, *, subject: str | None = None, id: str | None = None
    ) -> Event:
        """An event from this bus's source (a new UUID as its id unless given)."""
        return Event(id or new_event_id(), type, self.source, subject, now(), data)

    async def publish(
        self, type: str, data: Any, *, subject: str | None = None, id: str | None = None
    ) -> Event:
        """Append an event to the stream; return it."""
        event = self.event(type, data, subject=subject, id=id)
        await self.publish_many([event])
        return event

    async def publish_many(self, events: Sequence[Event]) -> None:
        """Append events in one round trip, in order."""
        if not events:
            return
        minid = self.minid()
        async with self.redis.pipeline(transaction=False) as pipe:
            for event in events:
                pipe.xadd(self.stream, event.fields(), minid=minid, approximate=True)  # type: ignore[arg-type]
            await pipe.execute()

    def subscribe(
        self,
        group: str,
        types: Iterable[str] | None = None,
        *,
        consumer: str | None = None,
        batch: int = 100,
        block: float = 1.0,
        start: str = "0",
        stop: asyncio.Event | None = None,
    ) -> Subscription:
        """Events of ``types`` (all if None; ``prefix.*`` matches a family) for ``group``.

        A new group starts at ``start``: ``"0"`` (the oldest retained event) or ``"$"`` (only
        new ones). Iteration ends when ``stop`` is set (checked at least every ``block`` s).
        """
        return Subscription(self, group, types, consumer, batch, block, start, stop)

    async def dead_letters(self, count: int = 100) -> list[DeadLetter]:
        """The oldest ``count`` entries of the dead-letter stream."""
        found = []
        redis: Any = self.redis
        for _, raw in await redis.xrange(self.dead_letter, count=count):
            fields = {as_str(k): as_str(v) for k, v in raw.items()}
            found.append(
                DeadLetter(
                    event={k: v for k, v in fields.items() if not k.startswith("deadletter")},
                    stream=fields["deadletterstream"],
                    group=fields["deadlettergroup"],
                    entry_id=fields["deadletterentry"],
                    deliveries=int(fields["deadletterdeliveries"]),
                    reason=fields["deadletterreason"],
                )
            )
        return found

    def minid(self) -> str:
        """The oldest entry id the stream keeps (``XADD ... MINID ~``): ``retention`` ago."""
        return str(max(0, int((time.time() - self.retention) * 1000)))
