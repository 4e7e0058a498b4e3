"""A streamed run's chunks on Redis: written by the runner that executes it, read by any API
process that serves its stream (``/lg/threads/{id}/runs/stream`` and the joins).

Each run has a Redis stream (`hitl.bus_names.run_stream`) whose entries are ``event`` (the
Agent Server's event name: ``values``, ``updates``, ``messages``, ``custom``, ... with
``|namespace`` for subgraphs), ``data`` (JSON) and ``seq`` (0, 1, 2, ... per run). The entry id
is the SSE event id, so a client that reconnects with ``Last-Event-ID`` reads on from there.

Bounded on both sides:

- the runner never waits for a reader, nor for Redis: `Publisher.put` queues the chunk and a
  task writes the queue in pipelines, one for all the process's streamed runs (`Writer`); a
  run whose queue Redis cannot keep up with drops chunks (counted, logged) rather than grow
  without end, and the run goes on;
- the stream keeps the last ``HITL_STREAM_WINDOW`` chunks (``XADD MAXLEN ~``) and expires
  ``HITL_STREAM_TTL_SECONDS`` after the run ends; a reader that falls behind the window reads
  on from the oldest chunk kept, and is told how many it missed (the ``seq`` gap).

Chunks are a view of the run, not its record: Postgres holds the record (the thread, its
requests, its checkpoints). A chunk lost with Redis loses nothing but the view.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from dataclasses import dataclass
from typing import Any

import pydantic_core
from langgraph.types import StreamMode
from redis.asyncio import Redis

from hitl import bus_names
from hitl.config import Settings
from hitl.validation import to_json

log = logging.getLogger("hitl.run_streams")

#: The last entry of a run's stream: the run ended (its data says how).
END = "end"
#: Where LangGraph's outputs and ``updates`` chunks carry a run's interrupts.
INTERRUPT = "__interrupt__"
#: Chunks a run may have queued for Redis before more are dropped.
MAX_QUEUED = 10_000
#: Entries written per round trip.
BATCH = 200
#: The longest a read blocks: under the Redis client's read timeout (redis-py's default,
#: 5 s), which a longer block would hit (its reader failing instead of finding nothing).
MAX_BLOCK_MS = 4000
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


def asked_events(stream: dict[str, Any]) -> set[str]:
    """The events of the modes a streamed run's caller asked for (`Run.options`' ``stream``):
    a background run records more, for joiners that name theirs."""
    asked = stream.get("asked") or stream.get("modes") or ["values"]
    return {MODES[m] for m in asked if m in MODES}


@dataclass(frozen=True)
class Chunk:
    id: str  # the Redis entry id: the SSE event id
    seq: int
    event: str
    data: bytes  # JSON


class Publisher:
    """Writes one run's chunks, in order, without making the run wait."""

    def __init__(self, writer: Writer, key: str) -> None:
        self.writer = writer
        self.key = key
        self.dropped = 0
        self.queued = 0
        self.seq = 0  # the next written chunk's
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def put(self, event: str, data: Any) -> None:
        """Queue a chunk (``data``: JSON-ready, or `encode`'s bytes)."""
        if self.queued >= MAX_QUEUED:
            self.dropped += 1
            return
        self.queued += 1
        if not isinstance(data, bytes):
            data = json.dumps(data, default=str, separators=(",", ":")).encode()
        self.writer.put((self, event, data))

    async def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (for at most ``timeout`` seconds), then let the stream expire."""
        self.writer.put((self, None, b""))
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        except TimeoutError:
            log.warning("stream %s: %d chunks not written in time", self.key, self.queued)
        if self.dropped:
            log.warning(
                "stream %s: %d chunks dropped (Redis did not keep up)", self.key, self.dropped
            )


class Writer:
    """Writes the queued chunks of every run of this process, in order, one pipeline per round
    trip: the chunks of runs streamed at once share their round trips (a write costs the
    runner more than its bytes). The first chunk goes at once; what is queued meanwhile goes
    with the next. Its task runs while there is something to write."""

    def __init__(self, redis: Redis, window: int, ttl: float) -> None:
        self.redis = redis
        self.window = window
        self.ttl = int(ttl)
        self._queue: collections.deque[tuple[Publisher, str | None, bytes]] = collections.deque()
        self._task: asyncio.Task[None] | None = None

    def put(self, item: tuple[Publisher, str | None, bytes]) -> None:
        """Queue a publisher's chunk (``None``: its close)."""
        self._queue.append(item)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._write(), name="hitl-run-streams")

    async def _write(self) -> None:
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
            chunks = [(p, event, data) for p, event, data in batch if event is not None]
            try:
                if chunks:
                    await self._send(chunks)
            except Exception as exc:  # Redis away: the view is lost, the runs go on
                for publisher, _event, _data in chunks:
                    publisher.dropped += 1
                log.warning("run streams: writing %d chunks failed: %s", len(chunks), exc)
            for publisher, event, _data in batch:
                if event is not None:
                    publisher.queued -= 1
                elif not publisher.closed.done():
                    publisher.closed.set_result(None)

    async def _send(self, chunks: list[tuple[Publisher, str, bytes]]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            keys: dict[str, None] = {}  # each written stream once, in order
            for publisher, event, data in chunks:
                fields: dict[Any, Any] = {"event": event, "data": data, "seq": publisher.seq}
                pipe.xadd(publisher.key, fields, maxlen=self.window, approximate=True)
                publisher.seq += 1
                keys[publisher.key] = None
            for key in keys:
                pipe.expire(key, self.ttl)
            await pipe.execute()


class StreamView:
    """What the runner streams of one run: each chunk LangGraph yields, as the Agent Server
    sends it (``event``: the mode, ``|``-joined with a subgraph's namespace). From the first
    chunk that shows an interrupt on, chunks are held until the run is recorded (`finish`), so
    a client that sees an interrupt finds its request already there."""

    held: list[tuple[str, bytes]]

    def __init__(self, publisher: Publisher, asked: dict[str, Any]) -> None:
        self.publisher = publisher
        self.asked: set[StreamMode] = {
            MODES[m] for m in asked.get("modes") or ["values"] if m in MODES
        }
        # the client's modes and the two ``ainvoke`` reads its output from, so the run's
        # output comes with its stream instead of from a read of the checkpoint after it
        self.modes: list[StreamMode] = sorted({*self.asked, "updates", "values"})
        self.subgraphs = bool(asked.get("subgraphs"))
        self.held = []
        self._latest: Any = None
        self._interrupts: list[Any] | None = None

    def chunk(self, part: Any) -> None:
        if self.subgraphs:
            namespace, mode, data = part
        else:
            (mode, data), namespace = part, ()
        if not namespace:
            self._follow(mode, data)
        if mode not in self.asked:
            return
        event = "|".join((mode, *namespace)) if namespace else mode
        payload = encode(data)
        if self.held or _shows_interrupt(mode, data):
            self.held.append((event, payload))
        else:
            self.publisher.put(event, payload)

    def _follow(self, mode: str, data: Any) -> None:
        if mode == "values":
            self._latest = data
        elif mode == "updates" and isinstance(data, dict) and INTERRUPT in data:
            self._interrupts = [*(self._interrupts or ()), *data[INTERRUPT]]

    def output(self) -> Any:
        """What ``ainvoke`` would have returned for the chunks seen: the last values, with
        the interrupts under ``__interrupt__`` if there were any."""
        if not self._interrupts:
            return self._latest
        if isinstance(self._latest, dict):
            return {**self._latest, INTERRUPT: self._interrupts}
        return {INTERRUPT: self._interrupts}

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


def encode(data: Any) -> bytes:
    """A chunk as JSON, in one pass (pydantic-core's serialiser): the chunk is a view sent to
    clients, not stored, so it needs none of `hitl.validation.to_json`'s checks for ``jsonb``
    unless it fails here (too deep, a cycle, a lone surrogate): then through them."""
    try:
        return pydantic_core.to_json(data, fallback=repr, inf_nan_mode="strings")
    except ValueError:
        return json.dumps(to_json(data), default=str, separators=(",", ":")).encode()


def _shows_interrupt(mode: str, payload: Any) -> bool:
    if mode in ("values", "updates") and isinstance(payload, dict):
        return INTERRUPT in payload
    if mode in ("tasks", "debug") and isinstance(payload, dict):
        found = payload.get("payload", payload)
        return isinstance(found, dict) and bool(found.get("interrupts"))
    return False


class RunStreams:
    """The run streams of this service's Redis: publishers for the runner, reads for readers."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.prefix = settings.bus_prefix
        self.writer = Writer(redis, settings.stream_window, settings.stream_ttl_seconds)

    def key(self, run_id: str) -> str:
        return bus_names.run_stream(self.prefix, run_id)

    def publisher(self, run_id: str) -> Publisher:
        return Publisher(self.writer, self.key(run_id))

    async def read(self, run_id: str, after: str, block_ms: int | None) -> list[Chunk]:
        """The chunks after entry ``after`` ("0": from the first kept), waiting up to
        ``block_ms`` for one (None: not waiting; at most `MAX_BLOCK_MS`)."""
        block = None if block_ms is None else min(block_ms, MAX_BLOCK_MS)
        found: Any = await self.redis.xread({self.key(run_id): after}, count=BATCH, block=block)
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
