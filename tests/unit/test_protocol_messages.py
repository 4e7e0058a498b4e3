"""A chat model's streamed tokens, as the runner streams them (LangGraph's ``messages`` mode,
serialised for Redis), made into a thread stream's ``messages`` events and read back by the
client's own message stream (langchain-core's ``ChatModelStream``, which ``thread.messages``
yields): the text and the message come out whole, the tokens one delta each."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.chat_model_stream import ChatModelStream
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from hitl.agent_server.protocol_messages import Messages
from hitl.validation import to_json

TEXT = "hello there, how can I help"


def _chunks() -> list[Any]:
    """What the runner writes for one streamed reply: ``[message chunk, metadata]`` each."""
    model = GenericFakeChatModel(messages=iter([AIMessage(TEXT)]))
    metadata = {"langgraph_node": "talk", "langgraph_step": 1, "tags": ["x"]}
    return [to_json((chunk, metadata)) for chunk in model.stream("hi")]


def _read(events: list[dict[str, Any]]) -> ChatModelStream:
    stream = ChatModelStream(message_id=events[0]["id"], node="talk")
    for data in events:
        stream.dispatch(data)
    return stream


def test_tokens_make_one_message_event_by_event() -> None:
    messages = Messages()
    per_chunk = [messages.of_chunk(chunk) for chunk in _chunks()]
    assert len(per_chunk) > 3
    events = [e for found in per_chunk for e in found]
    kinds = [e["event"] for e in events]
    assert kinds[:2] == ["message-start", "content-block-start"]
    assert kinds[-2:] == ["content-block-finish", "message-finish"]
    assert kinds.count("content-block-delta") == len(per_chunk)
    # each chunk's events go out with it: the first token before the last chunk came
    assert per_chunk[0][-1]["event"] == "content-block-delta"
    assert len({e["id"] for e in events}) == 1  # routed by the message's id
    assert events[0]["metadata"] == {"langgraph_node": "talk", "langgraph_step": 1}
    assert messages.close() == []

    stream = _read(events)
    assert stream.done
    assert str(stream.text) == TEXT
    assert stream.output.text == TEXT
    assert stream.output.id == events[0]["id"]


def test_a_message_the_run_left_open_is_ended_with_it() -> None:
    messages = Messages()
    events = [e for chunk in _chunks()[:-1] for e in messages.of_chunk(chunk)]
    assert events[-1]["event"] == "content-block-delta"
    events += messages.close()
    assert [e["event"] for e in events[-2:]] == ["content-block-finish", "message-finish"]
    assert _read(events).done


def test_a_whole_message_is_its_complete_lifecycle_and_others_make_none() -> None:
    messages = Messages()
    whole = to_json((AIMessage("answer: approve", id="m1"), {"langgraph_node": "confirm"}))
    events = messages.of_chunk(whole)
    assert [e["event"] for e in events] == [
        "message-start",
        "content-block-start",
        "content-block-delta",
        "content-block-finish",
        "message-finish",
    ]
    assert {e["id"] for e in events} == {"m1"}
    assert str(_read(events).text) == "answer: approve"
    tool = {"type": "tool", "content": "42", "tool_call_id": "t"}
    assert messages.of_chunk([tool, {}]) == []
    assert messages.of_chunk("not a chunk") == []
    assert messages.of_chunk([{"type": "AIMessageChunk", "content": 3}, {}]) == []
