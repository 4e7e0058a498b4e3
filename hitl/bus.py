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
import json
import logging
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from hitl import bus_keys

if TYPE_CHECKING:
    from hitl._bus_consumer import Subscription
    from hitl.config import Settings

log = logging.getLogger("hitl.bus")

SPECVERSION = "1.0"
_ENVELOPE = ("id", "type", "source", "time", "data")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class JSONText:
    """Data already encoded as JSON (an outbox row's, as Postgres holds it): published as it is,
    without decoding and encoding it again."""

    text: str


@dataclass(frozen=True)
class Event:
    """An event as CloudEvents names its attributes; ``data`` is JSON (or `JSONText`)."""

    id: str
    type: str
    source: str
    subject: str | None
    time: str
    data: Any

    def fields(self) -> dict[str, str]:
        """The stream entry's fields."""
        fields = {
            "specversion": SPECVERSION,
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "time": self.time,
            "data": self.data.text
            if isinstance(self.data, JSONText)
            else json.dumps(self.data, separators=(",", ":")),
        }
        if self.subject is not None:
            fields["subject"] = self.subject
        return fields

    @staticmethod
    def parse(fields: Mapping[Any, Any]) -> dict[str, Any]:
        """The attributes from a stream entry's fields; ValueError when it is not an event."""
        text = {_text(k): _text(v) for k, v in fields.items()}
        missing = [name for name in _ENVELOPE if name not in text]
        if missing:
            raise ValueError(f"not an event: no {', '.join(missing)}")
        return {
            "id": text["id"],
            "type": text["type"],
            "source": text["source"],
            "subject": text.get("subject"),
            "time": text["time"],
            "data": json.loads(text["data"]),
        }


@dataclass(frozen=True)
class Received(Event):
    """An event delivered to a consumer group: `ack` it once handled."""

    entry_id: str = ""
    deliveries: int = 1
    _subscription: Subscription | None = field(default=None, repr=False, compare=False)

    async def ack(self) -> None:
        """Done with it: the group will not see it again (sent with the next batch of acks)."""
        if self._subscription is not None:
            await self._subscription._ack(self.entry_id)

    async def release(self, after: float = 0.0) -> None:
        """Give it back unhandled: another consumer (or this one) gets it in ``after`` s."""
        if self._subscription is not None:
            await self._subscription._release(self.entry_id, after)


@dataclass(frozen=True)
class DeadLetter:
    event: dict[str, Any]  # the entry's fields as they were
    stream: str
    group: str
    entry_id: str
    deliveries: int
    reason: str


def new_event_id() -> str:
    return str(uuid.uuid4())


def now() -> str:
    return datetime.now(UTC).isoformat()


class Bus:
    """Publish to and subscribe from the event stream of one prefix on one Redis."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = bus_keys.DEFAULT_PREFIX,
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
        self.stream = bus_keys.events_stream(prefix)
        self.dead_letter = bus_keys.dead_letter_stream(prefix)

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
        minid = self._minid()
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
        from hitl._bus_consumer import Subscription

        return Subscription(self, group, types, consumer, batch, block, start, stop)

    async def dead_letters(self, count: int = 100) -> list[DeadLetter]:
        """The oldest ``count`` entries of the dead-letter stream."""
        found = []
        redis: Any = self.redis
        for _, raw in await redis.xrange(self.dead_letter, count=count):
            fields = {_text(k): _text(v) for k, v in raw.items()}
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

    def _minid(self) -> str:
        return str(max(0, int((time.time() - self.retention) * 1000)))
