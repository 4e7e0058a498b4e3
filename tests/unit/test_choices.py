"""Which requests are answered with one click, and what each button sends."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from hitl import reviews
from hitl.notifications import choices


class Approval(BaseModel):
    decision: str = "approve"
    comment: str | None = None


def sent(schema: dict[str, Any] | None, value: Any = None) -> list[tuple[str, Any]]:
    return [(c.label, c.value) for c in choices.of(schema, value)]


def test_enums_and_booleans_become_choices() -> None:
    assert sent({"enum": ["ship", "hold"]}) == [("Ship", "ship"), ("Hold", "hold")]
    assert sent({"type": "boolean"}) == [("Yes", True), ("No", False)]
    decision = {
        "type": "object",
        "properties": {"decision": {"$ref": "#/$defs/D"}, "comment": {"type": "string"}},
        "required": ["decision"],
        "$defs": {"D": {"enum": ["approve", "reject"]}},
    }
    assert sent(decision) == [
        ("Approve", {"decision": "approve"}),
        ("Reject", {"decision": "reject"}),
    ]
    [approve, reject] = choices.of(decision, None)
    assert (approve.style, reject.style) == ("primary", "danger")


@pytest.mark.parametrize(
    "schema",
    [
        None,
        {"type": "string"},
        {"enum": list(range(choices.MAX_CHOICES + 1))},
        {"enum": [1.5, 2.5]},
        {
            "type": "object",
            "properties": {"a": {"type": "boolean"}, "b": {"type": "string"}},
            "required": ["a", "b"],
        },
        {"type": "object", "properties": {"note": {"type": "string"}}, "required": ["note"]},
        Approval.model_json_schema(),  # nothing required: a form, not a click
    ],
)
def test_anything_else_has_no_choices(schema: dict[str, Any] | None) -> None:
    assert sent(schema) == []


def test_middleware_and_agent_inbox_decisions_that_need_nothing_more() -> None:
    value = {
        "action_requests": [{"name": "send", "args": {}}, {"name": "book", "args": {}}],
        "review_configs": [
            {"action_name": "send", "allowed_decisions": ["approve", "edit", "reject"]},
            {"action_name": "book", "allowed_decisions": ["approve", "reject"]},
        ],
    }
    assert sent(None, value) == [
        ("Approve all 2", {"decisions": [{"type": "approve"}, {"type": "approve"}]}),
        ("Reject all 2", {"decisions": [{"type": "reject"}, {"type": "reject"}]}),
    ]
    only_edit = {
        "action_requests": [{"name": "send", "args": {}}],
        "review_configs": [{"action_name": "send", "allowed_decisions": ["edit"]}],
    }
    assert sent(None, only_edit) == []
    inbox = [
        {
            "action_request": {"action": "send", "args": {}},
            "config": {"allow_accept": True, "allow_ignore": True, "allow_edit": True},
        }
    ]
    assert sent(None, inbox) == [
        ("Accept", [{"type": "accept", "args": None}]),
        ("Ignore", [{"type": "ignore", "args": None}]),
    ]


@pytest.mark.parametrize(
    "value",
    [
        {
            "action_requests": [{"name": "send", "args": {}}, {"name": "book", "args": {}}],
            "review_configs": [
                {"action_name": "send", "allowed_decisions": ["approve", "reject"]},
                {"action_name": "book", "allowed_decisions": ["reject", "respond"]},
            ],
        },
        [{"action_request": {"action": "send", "args": {}}, "config": {"allow_ignore": True}}],
        [{"action_request": {"action": "send", "args": {}}}],  # no config: any response
    ],
)
def test_a_button_sends_what_the_answer_path_accepts(value: Any) -> None:
    review = reviews.parse(value)
    assert review is not None
    offered = choices.of(None, value)
    assert offered  # reject is common to both actions; ignore is allowed
    for choice in offered:
        reviews.check_answer(review, choice.value, ("body", "response"))
