"""The events of a thread event stream (LangGraph's v3 streaming protocol, as
``langchain_protocol.Event``): what a run's chunks, its start and its end are sent as, their
``seq``, and which a subscription asked for.

Each event's ``seq`` is a function of where it comes from, not of the connection that sends
it: the run's id (runs are numbered in the order they were asked for), then the chunk's place
in the run's stream, then its place among the events made of that chunk. So any API process
sends the same events with the same ``seq`` (and ``event_id``, which the client deduplicates
on), a later run's events come after an earlier run's, and a client that reconnects with
``since`` gets what followed, from the run that ``seq`` belongs to.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hitl import run_streams
from hitl.agent_server.protocol_messages import Messages
from hitl.models import Request, Run

#: A run's events are numbered from its id shifted this far (room for 2**24 chunks a run, each
#: made into at most 2**8 events).
RUN_SHIFT = 32
CHUNK_SHIFT = 8
#: The chunk position of a run's end events (after any chunk it can have).
END_POSITION = (1 << (RUN_SHIFT - CHUNK_SHIFT)) - 1

#: The largest seq (a run's id is a Postgres ``bigint``).
MAX_SEQ = (1 << 63) - 1
#: The channels a client can subscribe to (``custom:<name>`` too).
CHANNELS = ("values", "updates", "messages", "tools", "lifecycle", "input", "checkpoints", "tasks")
#: What a run started by ``run.start`` or ``input.respond`` streams (`hitl.run_streams`).
RUN_STREAM: dict[str, Any] = {
    "modes": ["values", "updates", "messages-tuple", "custom"],
    "subgraphs": False,
}
#: The chunk position of the ends of a run's messages left open when it ended.
OPEN_MESSAGES_POSITION = END_POSITION - 2


class Subscription(BaseModel):
    """``SubscribeParams`` (the body of ``POST /threads/{id}/stream/events``)."""

    model_config = ConfigDict(extra="forbid")

    channels: list[str] = Field(min_length=1, max_length=20)
    namespaces: list[list[str]] | None = Field(None, max_length=100)
    depth: int | None = Field(None, ge=0, le=100)
    since: int | None = Field(None, ge=0, le=MAX_SEQ)

    def wants(self, event: dict[str, Any]) -> bool:
        """Whether the event is on a channel asked for, in a namespace asked for."""
        if not self._channel_wanted(event):
            return False
        namespace = event["params"]["namespace"]
        if not self.namespaces:
            return True
        return any(
            _prefixed(namespace, prefix)
            and (self.depth is None or len(namespace) - len(prefix) <= self.depth)
            for prefix in self.namespaces
        )

    def _channel_wanted(self, event: dict[str, Any]) -> bool:
        method = event["method"]
        if method == "input.requested":
            return "input" in self.channels
        if method == "custom":
            name = event["params"]["data"].get("name")
            return "custom" in self.channels or f"custom:{name}" in self.channels
        return method in self.channels


def _prefixed(namespace: list[str], prefix: list[str]) -> bool:
    """As the client matches: a segment without ``:`` matches ``segment:<task id>`` too."""
    if len(prefix) > len(namespace):
        return False
    return all(
        seg == got or (":" not in seg and got.partition(":")[0] == seg)
        for seg, got in zip(prefix, namespace, strict=False)
    )


def seq_of(run_id: int, position: int, index: int) -> int:
    return (run_id << RUN_SHIFT) | (position << CHUNK_SHIFT) | index


def first_run_of(since: int) -> int:
    """The id of the run a ``since`` belongs to."""
    return since >> RUN_SHIFT


def event(method: str, data: Any, seq: int, namespace: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "event",
        "event_id": str(seq),
        "seq": seq,
        "method": method,
        "params": {
            "namespace": namespace or [],
            "timestamp": int(time.time() * 1000),
            "data": data,
        },
    }


def started(run: Run) -> dict[str, Any]:
    """The run's first event: it is running (or about to)."""
    data = {"event": "running"}
    if graph := run.options.get("assistant_id"):
        data["graph_name"] = graph
    return event("lifecycle", data, seq_of(run.id, 0, 0))


def of_chunk(run: Run, chunk: run_streams.Chunk, messages: Messages) -> Iterator[dict[str, Any]]:
    """The events a chunk of the run's stream is sent as: ``values`` (the state, without the
    interrupts, which come as ``input.requested`` once the run is recorded), ``updates`` (one
    a node), ``messages`` (the chat models' tokens, `protocol_messages`: ``messages``
    follows the run's messages across its chunks), ``custom``. The other modes' chunks (and
    the run's ``error``/``end``) make none: the run's end is read from its record
    (`ended`)."""
    mode, *namespace = chunk.event.split("|")
    payload = json.loads(chunk.data)
    found: list[tuple[str, Any]] = []
    if mode == "values" and isinstance(payload, dict):
        state = {k: v for k, v in payload.items() if k != "__interrupt__"}
        if state:
            found.append(("values", state))
    elif mode == "updates" and isinstance(payload, dict):
        found += [
            ("updates", {"node": node, "values": values})
            for node, values in payload.items()
            if node != "__interrupt__" and isinstance(values, dict)
        ]
    elif mode == "messages":
        found += [("messages", data) for data in messages.of_chunk(payload)]
    elif mode == "custom":
        found.append(("custom", {"payload": payload}))
    for index, (method, data) in enumerate(found[:256]):
        yield event(method, data, seq_of(run.id, chunk.seq + 1, index), namespace)


def messages_left_open(run: Run, messages: Messages) -> list[dict[str, Any]]:
    """The ends of the run's messages that its stream did not end (sent before its end)."""
    return [
        event("messages", data, seq_of(run.id, OPEN_MESSAGES_POSITION, index))
        for index, data in enumerate(messages.close()[:256])
    ]


def ended(run: Run, pending: list[Request], resumed: bool) -> list[dict[str, Any]]:
    """The run's end, as its record says: ``failed`` (with the error), ``interrupted`` then an
    ``input.requested`` for each of the thread's pending interrupts (``resumed``: the run's
    interrupts were answered since, by a later run: none is pending), or ``completed``. Each
    has the same ``seq`` whenever it is sent."""
    seq = (seq_of(run.id, END_POSITION, index) for index in range(256))
    if run.status == "failed":
        error = (run.error or {}).get("message") or "the run failed"
        return [event("lifecycle", {"event": "failed", "error": error}, next(seq))]
    if run.status == "cancelled":
        return [
            event("lifecycle", {"event": "failed", "error": "the run was cancelled"}, next(seq))
        ]
    if not pending and not resumed:
        return [event("lifecycle", {"event": "completed"}, next(seq))]
    found = [event("lifecycle", {"event": "interrupted"}, next(seq))]
    found += [
        event(
            "input.requested",
            {"interrupt_id": r.interrupt_id, "value": r.value, "payload": r.value},
            next(seq),
        )
        for r in pending[:255]
        if r.interrupt_id is not None
    ]
    return found
