"""The SDK's operations without I/O (`hitl.sdk._calls`): the calls each yields, what it makes of
the answers, and when a wait gives up."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from hitl.sdk import _calls, ask
from hitl.sdk.errors import RequestExpired, RequestWithdrawn, WaitTimeout


class Approved(BaseModel):
    decision: str


def drive(operation: _calls.Exchange[Any], answers: list[Any]) -> tuple[list[_calls.Call], Any]:
    """The calls ``operation`` made, given ``answers`` one per call, and its result."""
    calls = [next(operation)]
    for answer in answers:
        try:
            calls.append(operation.send(answer))
        except StopIteration as done:
            return calls, done.value
    raise AssertionError(f"still calling after {len(answers)} answers: {calls[-1]}")


def test_start_thread_posts_the_input_and_returns_the_id() -> None:
    calls, thread_id = drive(_calls.start_thread("g", {"a": 1}, None, {"m": 2}), [{"thread_id": 7}])
    assert thread_id == "7"
    [call] = calls
    assert (call.method, call.path) == ("POST", "/api/v1/threads")
    assert call.body == {"graph": "g", "input": {"a": 1}, "metadata": {"m": 2}}


def test_wait_polls_until_the_thread_settles() -> None:
    answers = [{"status": "running"}, {"status": "interrupted", "thread_id": "t/1"}]
    calls, thread = drive(_calls.wait("t/1", 30), answers)
    assert thread["status"] == "interrupted"
    assert [c.path for c in calls] == ["/api/v1/threads/t%2F1/wait"] * 2
    params = calls[0].params or {}
    assert 0 < params["timeout"] <= _calls.MAX_WAIT_PER_CALL
    assert calls[0].extra_timeout == params["timeout"]


def test_a_wait_out_of_time_raises_with_the_thread_as_last_seen() -> None:
    operation = _calls.wait("t1", 0)
    next(operation)
    with pytest.raises(WaitTimeout) as caught:
        operation.send({"status": "running", "thread_id": "t1"})
    assert caught.value.thread == {"status": "running", "thread_id": "t1"}


def test_start_and_wait_returns_a_settled_thread_without_a_second_call() -> None:
    calls, thread = drive(
        _calls.start_and_wait("g", {}, "t1", None, 30), [{"status": "completed", "thread_id": "t1"}]
    )
    assert thread["status"] == "completed" and len(calls) == 1
    assert calls[0].params is not None and calls[0].params["wait"] > 0


def test_create_request_leaves_out_the_terms_not_given() -> None:
    fields = {"title": "T", "reminders": None}
    calls, request = drive(
        _calls.create_request("wf", "https://agent/hook", {"c": 1}, fields, "key-1"), [{"id": "r"}]
    )
    assert request == {"id": "r"}
    assert calls[0].body == {
        "workflow_id": "wf",
        "callback_webhook": "https://agent/hook",
        "context": {"c": 1},
        "title": "T",
    }
    assert calls[0].headers == {"Idempotency-Key": "key-1"}


def test_ask_posts_once_then_long_polls_until_the_request_is_settled() -> None:
    question = ask.Question(
        "Deploy?", response_schema={"type": "boolean"}, groups=["ops"], idempotency_key="k1"
    )
    assert question.body() == question.body()  # the same body under one key: a replay
    assert question.body() == {
        "workflow_id": "ask:k1",
        "title": "Deploy?",
        "context": {"question": "Deploy?"},
        "routing": {"assignees": [], "groups": ["ops"]},
        "response_schema": {"type": "boolean"},
    }
    created = {"id": "r/1", "state": "pending"}
    answers = [created, {"id": "r/1", "state": "pending"}, {"id": "r/1", "state": "responded"}]
    calls, request = drive(ask.ask(question), answers)
    assert request["state"] == "responded"
    assert [(c.method, c.path) for c in calls] == [("POST", "/api/v1/requests")] + [
        ("GET", "/api/v1/requests/r%2F1/wait")
    ] * 2
    assert calls[0].headers == {"Idempotency-Key": "k1"}
    assert all(c.retry_busy for c in calls[1:])
    for state, error in [("expired", RequestExpired), ("cancelled", RequestWithdrawn)]:
        with pytest.raises(error):
            drive(ask.ask(question), [created, {"id": "r/1", "state": state}])
    terms = ask.Question(
        "Ship?", priority="high", on_behalf_of="cy", approval={"min": 2}, idempotency_key="k2"
    ).body()
    assert terms["priority"] == "high" and terms["on_behalf_of"] == "cy"
    assert terms["approval"] == {"min": 2}
    # a quorum's answer is the decision and the votes, as they are
    decided = {"decision": "approve", "reason": "quorum", "votes": []}
    assert ask.answer_of({"approval": {"min": 2}, "response": decided}, Approved) == decided
    # no key: each ask is its own request
    assert ask.Question("x").body()["workflow_id"] != ask.Question("x").body()["workflow_id"]
