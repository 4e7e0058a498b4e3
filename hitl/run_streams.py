"""A streamed run's chunks on Redis: written by the runner that executes it, read by any API
process that serves its stream (``/lg/threads/{id}/runs/stream`` and the joins).

Each run has a Redis stream (`hitl.bus_names.run_stream`) whose entries are ``event`` (the
Agent Server's event name: ``values``, ``updates``, ``messages``, ``custom``, ... with
``|namespace`` for subgraphs), ``data`` (JSON) and ``seq`` (0, 1, 2, ... per run). The entry id
is the SSE event id, so a client that reconnects with ``Last-Event-ID`` reads on from there.

Bounded on both sides:

- the runner never waits for a reader, nor for Redis: `Publisher.put` queues the chunk and a
  task writes the queue in pipelines; a queue Redis cannot keep up with drops chunks (counted,
  logged) rather than grow without end, and the run goes on;
- the stream keeps the last ``HITL_STREAM_WINDOW`` chunks (``XADD MAXLEN ~``) and expires
  ``HITL_STREAM_TTL_SECONDS`` after the run ends; a reader that falls behind the window reads
  on from the oldest chunk kept, and is told how many it missed (the ``seq`` gap).

Chunks are a view of the run, not its record: Postgres holds the record (the thread, its
requests, its checkpoints). A chunk lost with Redis loses nothing but the view.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from langgraph.types import StreamMode
from redis.asyncio import Redis

from hitl import bus_names
from hitl.config import Settings
from hitl.validation import to_json

log = logging.getLogger("hitl.run_streams")

#: The last entry of a run's stream: the run ended (its data says how).
END = "end"
#: Chunks a run may have queued for Redis before more are dropped.
MAX_QUEUED = 10_000
#: Entries written per round trip.
BATCH = 200
#: The Agent Server's stream modes this service streams -> LangGraph's (whose name each chunk's
#: event carries, as the Agent Server's do).
MODES: dict[str, StreamMode] = {
    "values": "values",
    "updates": "updates",
    "messages-tuple": "messages",
    "custom": "custom",
    "tasks": "tasks",
    "checkpoints": "checkpoints",
    "debug": "debug",
}


@dataclass(frozen=True)
class Chunk:
    id: str  # the Redis entry id: the SSE event id
    seq: int
    event: str
    data: bytes  # JSON


class Publisher:
    """Writes one run's chunks, in order, without making the run wait."""

    def __init__(self, redis: Redis, key: str, window: int, ttl: float) -> None:
        self.redis = redis
        self.key = key
        self.window = window
        self.ttl = ttl
        self.dropped = 0
        self._seq = 0
        self._queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue(MAX_QUEUED)
        self._task = asyncio.create_task(self._write(), name=f"hitl-stream-{key}")

    def put(self, event: str, data: Any) -> None:
        """Queue a chunk (``data``: JSON-ready)."""
        encoded = json.dumps(data, default=str, separators=(",", ":")).encode()
        try:
            self._queue.put_nowait((event, encoded))
        except asyncio.QueueFull:
            self.dropped += 1

    async def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (for at most ``timeout`` seconds), then let the stream expire."""
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except (TimeoutError, Exception):
            self._task.cancel()
            log.warning("stream %s: %d chunks not written in time", self.key, self._queue.qsize())
        if self.dropped:
            log.warning(
                "stream %s: %d chunks dropped (Redis did not keep up)", self.key, self.dropped
            )

    async def _write(self) -> None:
        done = False
        while not done:
            batch = [await self._queue.get()]
            while len(batch) < BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            done = batch[-1] is None
            chunks = [c for c in batch if c is not None]
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for event, data in chunks:
                        fields: dict[Any, Any] = {"event": event, "data": data, "seq": self._seq}
                        pipe.xadd(self.key, fields, maxlen=self.window, approximate=True)
                        self._seq += 1
                    pipe.expire(self.key, int(self.ttl))
                    await pipe.execute()
            except Exception as exc:  # Redis away: the view is lost, the run goes on
                self.dropped += len(chunks)
                log.warning("stream %s: writing %d chunks failed: %s", self.key, len(chunks), exc)


class StreamView:
    """What the runner streams of one run: each chunk LangGraph yields, as the Agent Server
    sends it (``event``: the mode, ``|``-joined with a subgraph's namespace). From the first
    chunk that shows an interrupt on, chunks are held until the run is recorded (`finish`), so
    a client that sees an interrupt finds its request already there."""

    def __init__(self, publisher: Publisher, asked: dict[str, Any]) -> None:
        self.publisher = publisher
        self.modes: list[StreamMode] = sorted(
            {MODES[m] for m in asked.get("modes") or ["values"] if m in MODES}
        )
        self.subgraphs = bool(asked.get("subgraphs"))
        self.held: list[tuple[str, Any]] = []

    def chunk(self, part: Any) -> None:
        if self.subgraphs:
            namespace, mode, data = part
        else:
            (mode, data), namespace = part, ()
        event = mode + "".join("|" + step for step in namespace)
        payload = to_json(data)
        if self.held or _shows_interrupt(mode, payload):
            self.held.append((event, payload))
        else:
            self.publisher.put(event, payload)

    async def finish(self, run: Any, cancelled: str | None, error: dict[str, Any] | None) -> None:
        """Once the run is recorded: the held chunks, an ``error`` event if it failed, and the
        end (with the run's status, as the Agent Server's ``end``)."""
        for event, payload in self.held:
            self.publisher.put(event, payload)
        if error is not None and not cancelled:
            self.publisher.put(
                "error", {"error": error.get("type"), "message": error.get("message")}
            )
        status = "interrupted" if cancelled else "error" if error is not None else "success"
        self.publisher.put(END, {"run_id": str(run.public_id), "status": status})
        await self.publisher.close()


def _shows_interrupt(mode: str, payload: Any) -> bool:
    if mode in ("values", "updates") and isinstance(payload, dict):
        return "__interrupt__" in payload
    if mode in ("tasks", "debug") and isinstance(payload, dict):
        found = payload.get("payload", payload)
        return isinstance(found, dict) and bool(found.get("interrupts"))
    return False


class RunStreams:
    """The run streams of this service's Redis: publishers for the runner, reads for readers."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.prefix = settings.bus_prefix
        self.window = settings.stream_window
        self.ttl = settings.stream_ttl_seconds

    def key(self, run_id: str) -> str:
        return bus_names.run_stream(self.prefix, run_id)

    def publisher(self, run_id: str) -> Publisher:
        return Publisher(self.redis, self.key(run_id), self.window, self.ttl)

    async def read(self, run_id: str, after: str, block_ms: int) -> list[Chunk]:
        """The chunks after entry ``after`` ("0": from the first kept), waiting up to
        ``block_ms`` for one."""
        found: Any = await self.redis.xread({self.key(run_id): after}, count=BATCH, block=block_ms)
        chunks = []
        for _key, entries in found or ():
            for entry_id, fields in entries:
                chunks.append(
                    Chunk(
                        id=_text(entry_id),
                        seq=int(fields[b"seq"]),
                        event=_text(fields[b"event"]),
                        data=fields[b"data"],
                    )
                )
        return chunks


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
