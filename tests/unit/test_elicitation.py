"""MCP elicitation interrupts and langchain's per-call tool approvals: recognised in a value,
answers checked with errors that name the field, and the request page's forms read back
(hitl/elicitation.py, hitl/ui/elicit.py, hitl/ui/native.py, the discriminator in
hitl/validation.py). The values are the ones langchain raises (``langchain.mcp.elicitation``,
``HumanInTheLoopMiddleware(interrupt_mode="per_call")``), built by those packages here."""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents.middleware.human_in_the_loop import _decision_schema
from langchain_core.tools import tool
from pydantic import TypeAdapter

from hitl import elicitation, errors, headlines
from hitl.ui import elicit, native
from hitl.validation import schema_errors

BOOKING = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "title": "Name"},
        "party_size": {"type": "integer", "minimum": 1, "maximum": 12},
        "terrace": {"type": "boolean", "default": False},
    },
    "required": ["name", "party_size"],
}
FORM = {"key": "k:ask", "mode": "form", "message": "Who is it for?", "requested_schema": BOOKING}
VISIT = {"key": "sign-in", "mode": "url", "message": "Sign in", "url": "https://a.example.com/x"}
BATCH = {"type": "mcp_elicitation", "tool_name": "book_table", "requests": [FORM, VISIT]}
SINGLE = {
    "type": "mcp_elicitation",
    "mode": "form",
    "server": "bookings",
    "message": "Who is it for?",
    "response_schema": BOOKING,
}


def problems(value: Any, answer: Any) -> list[tuple[list[Any], str]]:
    asked = elicitation.parse(value)
    assert asked is not None
    try:
        elicitation.check_answer(asked, answer, ("body", "response"))
    except errors.ResponseInvalid as exc:
        return [(p["loc"], p["msg"]) for p in exc.detail]
    return []


def test_the_shapes_langchain_raises_are_recognised() -> None:
    asked = elicitation.parse(BATCH)
    assert asked is not None and asked.tool_name == "book_table"
    assert [(q.key, q.mode) for q in asked.questions] == [("k:ask", "form"), ("sign-in", "url")]
    single = elicitation.parse(SINGLE)
    assert single is not None and single.server == "bookings"
    assert single.questions[0].key is None and single.questions[0].schema == BOOKING
    for not_one in (
        {"type": "mcp_elicitation", "requests": []},
        {"type": "mcp_elicitation", "requests": [FORM, FORM]},  # one key twice
        {"type": "mcp_elicitation", "requests": [{**FORM, "requested_schema": "x"}]},
        # a server's schema the service cannot use: an ordinary value, not a broken form
        {"type": "mcp_elicitation", "requests": [{**FORM, "requested_schema": {"type": 5}}]},
        {"type": "mcp_elicitation", "requests": [{**FORM, "requested_schema": {"properties": 3}}]},
        {"type": "mcp_elicitation", "requests": [{**FORM, "requested_schema": {"type": "array"}}]},
        {"type": "mcp_elicitation", "mode": "url", "message": "m"},  # no url
        {"type": "other", "requests": [FORM]},
        [BATCH],
        "mcp_elicitation",
    ):
        assert elicitation.parse(not_one) is None, not_one


def test_answers_are_checked_against_each_question() -> None:
    good = {
        "responses": {
            "k:ask": {"action": "accept", "content": {"name": "Ana", "party_size": 2}},
            "sign-in": {"action": "accept"},
        }
    }
    assert problems(BATCH, good) == []
    declined = {"responses": {"k:ask": {"action": "decline"}, "sign-in": {"action": "cancel"}}}
    assert problems(BATCH, declined) == []
    assert problems(BATCH, {"responses": {"k:ask": {"action": "decline"}}}) == [
        (["body", "response", "responses", "sign-in"], "answer this question")
    ]
    bad_content = {
        "responses": {
            "k:ask": {"action": "accept", "content": {"name": "Ana", "party_size": 40}},
            "sign-in": {"action": "accept", "content": {"x": 1}},
            "nope": {"action": "accept"},
        }
    }
    assert problems(BATCH, bad_content) == [
        (["body", "response", "responses", "nope"], "no question has this key"),
        (
            ["body", "response", "responses", "k:ask", "content", "party_size"],
            "40 is greater than the maximum of 12",
        ),
        (
            ["body", "response", "responses", "sign-in", "content"],
            "a page visited carries no content",
        ),
    ]
    assert problems(BATCH, {"decisions": []}) == [
        (["body", "response", "decisions"], "is not part of an answer"),
        (["body", "response", "responses"], "must be an object: one response per key"),
    ]
    assert problems(SINGLE, {"action": "maybe"}) == [
        (["body", "response", "action"], "must be one of accept, decline, cancel")
    ]
    assert problems(SINGLE, {"action": "accept"}) == [
        (["body", "response", "content"], "an accepted form carries its content")
    ]
    assert problems(SINGLE, {"action": "accept", "content": {"party_size": 2}}) == [
        (["body", "response", "content", "name"], "'name' is a required property")
    ]
    assert problems(SINGLE, {"action": "cancel", "content": {}}) == [
        (["body", "response", "content"], "a response to cancel carries no content")
    ]
    assert problems(SINGLE, "accept") == [
        (["body", "response"], "must be an object with an action")
    ]


def test_a_url_is_shown_with_its_real_host_and_only_http_is_a_link() -> None:
    plain = elicitation.link("https://accounts.example.com/connect?service=x#top")
    assert (plain.href, plain.before, plain.host, plain.after) == (
        "https://accounts.example.com/connect?service=x#top",
        "https://",
        "accounts.example.com",
        "/connect?service=x#top",
    )
    tricky = elicitation.link("https://bank.example@evil.example:8443/login")
    assert (tricky.before, tricky.host, tricky.after) == (
        "https://bank.example@",
        "evil.example",
        ":8443/login",
    )
    lookalike = "https://\u0430\u0440\u0440\u04cf\u0435.com/"  # "apple" in Cyrillic letters
    assert elicitation.link(lookalike).host == "xn--80ak6aa92e.com"
    for not_a_link in ("javascript:alert(1)", "data:text/html,x", "https://h:99999/", "/rel"):
        assert elicitation.link(not_a_link).href is None, not_a_link


def test_the_request_page_form_reads_back_as_the_answer() -> None:
    asked = elicitation.parse(BATCH)
    assert asked is not None
    shown = elicit.views(asked)
    assert [f.name for f in shown[0].fields] == ["q.0.name", "q.0.party_size", "q.0.terrace"]
    assert shown[1].link is not None and shown[1].link.host == "a.example.com"
    assert elicit.buttons(asked)[0] == ("accept", "Accept")
    form = {"action": "accept", "q.0.name": "Ana", "q.0.party_size": "3", "q.0.terrace": "on"}
    assert elicit.answer_from_form(asked, form) == {
        "responses": {
            "k:ask": {
                "action": "accept",
                "content": {"name": "Ana", "party_size": 3, "terrace": True},
            },
            "sign-in": {"action": "accept"},
        }
    }
    # declining needs no content, even with required fields left empty
    assert elicit.answer_from_form(asked, {"action": "decline"}) == {
        "responses": {"k:ask": {"action": "decline"}, "sign-in": {"action": "decline"}}
    }
    with pytest.raises(errors.ResponseInvalid) as no_action:
        elicit.answer_from_form(asked, {"q.0.name": "Ana"})
    assert no_action.value.detail[0]["loc"] == ["body", "response", "action"]
    with pytest.raises(errors.ResponseInvalid) as unreadable:
        elicit.answer_from_form(asked, {"action": "accept", "q.0.party_size": "many"})
    placed, loose = elicit.place_errors(asked, shown, unreadable.value.detail)
    assert placed == {"q.0.party_size": ["'many' is not an integer"]} and loose == []
    # the answer path's errors (real locations) land on the same fields
    checked = [
        {
            "loc": ["body", "response", "responses", "k:ask", "content", "name"],
            "msg": "m",
            "type": "required",
        },
        {"loc": ["body", "response", "responses", "sign-in"], "msg": "answer this", "type": "x"},
    ]
    placed, loose = elicit.place_errors(asked, shown, checked)
    assert placed == {"q.0.name": ["This field is required."]} and loose == ["answer this"]
    single = elicitation.parse({**SINGLE, "mode": "url", "url": "https://b.example/"})
    assert single is not None and elicit.buttons(single)[0] == ("accept", "Done")
    assert elicit.answer_from_form(single, {"action": "accept"}) == {"action": "accept"}


def test_headline_and_label() -> None:
    assert headlines.headline(BATCH) == "Who is it for?"
    assert headlines.label(BATCH) == "Tool input"
    assert headlines.headline({**SINGLE, "message": "Sign in to GitHub"}) == "Sign in to GitHub"


@tool("issue_refund")
def issue_refund(order_id: str, amount: float, note: str | None = None) -> str:
    """Refund ``amount`` on ``order_id``."""
    return "ok"


def per_call_schema(allowed: list[Any]) -> dict[str, Any]:
    """The response schema langchain's per-call middleware gives the interrupt, as stored."""
    decision = _decision_schema(allowed, "issue_refund", issue_refund)
    return TypeAdapter(decision).json_schema()


def test_a_per_call_tool_approval_gets_the_tool_call_card() -> None:
    schema = per_call_schema(["approve", "edit", "reject"])
    value = {
        "type": "tool_approval",
        "tool_call_id": "call_1",
        "name": "issue_refund",
        "args": {"order_id": "A-1", "amount": 120.0},
        "description": "Check the amount",
    }
    assert native.shape_for(value, schema) == "tool_approval"
    assert native.shape_for({"action_requests": [], "review_configs": []}, schema) is None
    [card] = native.cards(value, schema)
    assert (card.name, card.description, card.decisions) == (
        "issue_refund",
        "Check the amount",
        ["approve", "edit", "reject"],
    )
    assert [(a.name, a.text, a.given) for a in card.args] == [
        ("order_id", "A-1", True),
        ("amount", "120.0", True),
        ("note", "", False),  # the tool's optional argument, from its schema
    ]
    assert native.answer_from_form(value, {"card.0.type": "approve"}, schema) == {"type": "approve"}
    edit = {"card.0.type": "edit", "card.0.args.order_id": "A-1", "card.0.args.amount": "90"}
    edited = native.answer_from_form(value, edit, schema)
    assert edited == {
        "type": "edit",
        "edited_action": {"name": "issue_refund", "args": {"order_id": "A-1", "amount": 90}},
    }
    assert schema_errors(schema, edited, ("body", "response")) == []
    # the tagged union is checked against the branch the tag names: errors name the field
    wrong = {**edited, "edited_action": {"name": "issue_refund", "args": {"amount": "x"}}}
    found = schema_errors(schema, wrong, ("body", "response"))
    assert sorted(p["loc"] for p in found) == [
        ["body", "response", "edited_action", "args", "amount"],
        ["body", "response", "edited_action", "args", "order_id"],
    ]
    placed, loose = native.place_errors("tool_approval", found)
    assert set(placed) == {"card.0.args.amount", "card.0.args.order_id"} and loose == []
    assert schema_errors(schema, {"type": "respond", "message": "x"}, ("body", "response")) == [
        {
            "loc": ["body", "response", "type"],
            "msg": "must be one of: approve, edit, reject",
            "type": "discriminator",
        }
    ]
    one = per_call_schema(["approve"])
    assert native.cards(value, one)[0].decisions == ["approve"]
    assert headlines.label(value) == "Tool call review"
