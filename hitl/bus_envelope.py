"""The envelope of an event on the bus: CloudEvents attribute names, JSON data.

Apart from `hitl.bus` so that a consumer (`hitl._bus_consumer`) can build the events it
delivers without importing the bus that makes consumers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hitl._bus_consumer import Subscription

SPECVERSION = "1.0"
_ENVELOPE = ("id", "type", "source", "time", "data")


def as_str(value: bytes | str) -> str:
    """A Redis reply field as text (replies arrive as bytes unless the client decodes)."""
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
        text = {as_str(k): as_str(v) for k, v in fields.items()}
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
