"""A run's chat-model messages as the ``messages`` events of a thread event stream (LangGraph's
v3 protocol: ``message-start``, ``content-block-start``/``-delta``/``-finish`` for each block,
``message-finish``), made from the run's ``messages`` chunks (the Agent Server's
``messages-tuple``: a message chunk or a whole message, with LangGraph's metadata).

One stream of chunks, two views: the run streams its tokens once, as LangGraph's
``stream_mode="messages"`` yields them, and `hitl.agent_server.streams` sends them as they
are while a thread stream sends them as this module makes them. (LangGraph's own v3 stream
makes its chat models answer in content blocks instead, which changes the message the graph's
state keeps: a client's watching must not change what the graph does.)

The events are langchain-core's (`langchain_core.language_models._compat_bridge`, which
LangGraph's v3 stream uses too), made one chunk at a time: its ``chunks_to_events`` needs the
message's whole stream, and a chunk's events must go out when it comes. A message ends with
its chunk marked ``chunk_position: "last"``, or with the run (`Messages.close`). Every event
carries the message's ``id``, which the client routes on when messages stream side by side.
A whole message (one a node returned without streaming it) is sent as its complete lifecycle
at once, as LangGraph's v3 stream sends it; tool results are not chat tokens and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import _compat_bridge as bridge
from langchain_core.messages import AIMessage, AIMessageChunk
from pydantic import ValidationError

#: The chunk types (as serialised) that are a chat model's message.
_CHUNK = "AIMessageChunk"
_WHOLE = "ai"


@dataclass
class _Open:
    """A message whose chunks are coming: its blocks so far (by the source's key: the wire
    index and the block accumulated), for the blocks' finish events."""

    blocks: dict[Any, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    usage: Any = None
    response_metadata: dict[str, Any] = field(default_factory=dict)


class Messages:
    """One run's messages, followed across its chunks (read in order)."""

    def __init__(self) -> None:
        self._open: dict[str, _Open] = {}

    def of_chunk(self, payload: Any) -> list[dict[str, Any]]:
        """The events of one ``messages`` chunk (``[message, metadata]``)."""
        if not (isinstance(payload, list) and len(payload) == 2):
            return []
        serialised, metadata = payload
        if not isinstance(serialised, dict) or not isinstance(metadata, dict):
            return []
        kind = serialised.get("type")
        try:
            if kind == _CHUNK:
                return self._chunk(AIMessageChunk.model_validate(serialised), metadata)
            if kind == _WHOLE:
                return _whole(AIMessage.model_validate(serialised), metadata)
        except ValidationError:  # (cut by the stream's size limits: not a message any more)
            return []
        return []

    def close(self) -> list[dict[str, Any]]:
        """The ends of the messages still open (the run ended without their last chunk)."""
        found: list[dict[str, Any]] = []
        for message_id in list(self._open):
            found += self._finish(message_id)
        return found

    def _chunk(self, chunk: AIMessageChunk, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        message_id = chunk.id or ""
        found: list[dict[str, Any]] = []
        message = self._open.get(message_id)
        if message is None:
            message = self._open[message_id] = _Open()
            found.append(_start(chunk, metadata))
        if chunk.response_metadata:
            message.response_metadata.update(chunk.response_metadata)
        for key, block in bridge._iter_protocol_blocks(chunk):
            if key not in message.blocks:
                index = len(message.blocks)
                message.blocks[key] = (index, dict(block))
                start = {"index": index, "content": bridge._start_skeleton(block)}
                found.append({"event": "content-block-start", **start})
            else:
                index, so_far = message.blocks[key]
                message.blocks[key] = (index, bridge._accumulate(so_far, block))
            delta = bridge._to_content_delta(block)
            if delta is not None:
                found.append({"event": "content-block-delta", "index": index, "delta": delta})
        if chunk.usage_metadata:
            message.usage = bridge._accumulate_usage(message.usage, chunk.usage_metadata)
        found = [{**event, "id": message_id} for event in found]
        if chunk.chunk_position == "last":
            found += self._finish(message_id)
        return found

    def _finish(self, message_id: str) -> list[dict[str, Any]]:
        message = self._open.pop(message_id)
        found: list[dict[str, Any]] = [
            dict(bridge._finalize_and_build_finish(index, block))
            for index, block in message.blocks.values()
        ]
        found.append(
            dict(
                bridge._build_message_finish(
                    usage=message.usage, response_metadata=message.response_metadata
                )
            )
        )
        return [{**event, "id": message_id} for event in found]


def _start(message: AIMessage | AIMessageChunk, metadata: dict[str, Any]) -> dict[str, Any]:
    """``message-start``, with the model's metadata and LangGraph's (the client reads the
    node from ``langgraph_node``; the protocol's metadata holds plain values only)."""
    start: dict[str, Any] = dict(bridge._build_message_start(message, None))
    graph = {
        k: v
        for k, v in metadata.items()
        if k.startswith("langgraph_") and isinstance(v, str | int | float | bool)
    }
    if graph or "metadata" in start:
        start["metadata"] = {**start.get("metadata", {}), **graph}
    return start


def _whole(message: AIMessage, metadata: dict[str, Any]) -> list[dict[str, Any]]:
    events = [dict(e) for e in bridge.message_to_events(message)]
    events[0] = _start(message, metadata)
    return [{**event, "id": message.id or ""} for event in events]
