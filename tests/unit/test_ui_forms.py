"""The web UI's schema-to-form logic and presentation, without a server (hitl/ui/forms.py,
hitl/ui/native.py, hitl/ui/present.py, hitl/headlines.py)."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

from hitl import errors, headlines
from hitl.ui import forms, native, present
from nodes.approval import ReviewDecision

# -- forms.py -------------------------------------------------------------------------------------


class Address(BaseModel):
    city: str = Field(min_length=2, max_length=50, description="Where it goes.")
    zip_code: str | None = Field(default=None, pattern=r"^\d{5}$")


class Everything(BaseModel):
    decision: Literal["approve", "reject"]
    priority: Literal["p0", "p1", "p2", "p3", "p4", "p5"] = "p2"
    urgent: bool = False
    count: int = Field(default=1, ge=0, le=10)
    ratio: float | None = None
    email: str | None = Field(default=None, json_schema_extra={"format": "email"})
    tags: list[str] = Field(default_factory=list)
    scores: list[int] = Field(default_factory=list)
    labels: list[Literal["bug", "docs"]] = Field(default_factory=list)
    address: Address
    extra: dict[str, Any] | None = None


def by_name(fields: list[forms.Field]) -> dict[str, forms.Field]:
    out = {}
    for f in fields:
        out[f.name] = f
        out.update(by_name(f.children))
    return out


def test_fields_from_a_pydantic_schema() -> None:
    fields = by_name(forms.fields_from_schema(Everything.model_json_schema()))
    assert fields["decision"].kind == "radio" and fields["decision"].required
    assert [o.data for o in fields["decision"].options] == ["approve", "reject"]
    assert fields["priority"].kind == "select" and fields["priority"].default == "p2"
    assert fields["urgent"].kind == "checkbox"
    assert fields["count"].kind == "number"
    assert fields["count"].attrs == {"step": "1", "min": "0", "max": "10"}
    assert fields["ratio"].kind == "number" and fields["ratio"].nullable
    assert fields["ratio"].attrs == {"step": "any"}
    assert fields["email"].kind == "text" and fields["email"].attrs["type"] == "email"
    assert fields["tags"].kind == "lines" and fields["tags"].item_type == "string"
    assert fields["scores"].kind == "lines" and fields["scores"].item_type == "integer"
    assert fields["labels"].kind == "checkboxes"
    assert fields["address"].kind == "fieldset" and fields["address"].required  # via $ref
    assert fields["address.city"].attrs == {
        "minlength": "2",
        "maxlength": "50",
        "type": "text",
        "required": "",
    }
    assert fields["address.city"].description == "Where it goes."
    assert fields["address.zip_code"].attrs["pattern"] == r".*(?:^\d{5}$).*"
    assert fields["extra"].kind == "json"
    assert list(by_name(forms.fields_from_schema(Everything.model_json_schema())))[:2] == [
        "decision",
        "address",
    ]  # required first


def test_review_decision_schema_and_defaults() -> None:
    fields = forms.fields_from_schema(ReviewDecision.model_json_schema())
    assert [(f.name, f.kind, f.required) for f in fields] == [
        ("decision", "radio", True),
        ("comment", "textarea", False),
    ]
    assert forms.initial_values(forms.fields_from_schema(Everything.model_json_schema())) == {
        "priority": ["p2"],
        "urgent": [],
        "count": ["1"],
    }


def test_value_from_form_coerces_to_the_schema() -> None:
    schema = Everything.model_json_schema()
    value = forms.value_from_form(
        schema,
        {
            "decision": "approve",
            "priority": "p4",
            "urgent": "on",
            "count": "3",
            "ratio": "0.5",
            "email": "",
            "tags": "a\n\n b \n",
            "scores": ["1\n2"],
            "labels": ["bug", "docs"],
            "address.city": "Lyon",
            "address.zip_code": "",
            "extra": '{"k": [1]}',
        },
    )
    assert value == {
        "decision": "approve",
        "priority": "p4",
        "urgent": True,
        "count": 3,
        "ratio": 0.5,
        "tags": ["a", "b"],
        "scores": [1, 2],
        "labels": ["bug", "docs"],
        "address": {"city": "Lyon"},
        "extra": {"k": [1]},
    }
    Everything.model_validate(value)
    assert forms.value_from_form(schema, {"decision": "reject"}) == {
        "decision": "reject",
        "urgent": False,
        "address": {},
    }


def test_value_from_form_reports_what_it_cannot_read() -> None:
    with pytest.raises(errors.ResponseInvalid) as caught:
        forms.value_from_form(
            Everything.model_json_schema(),
            {"decision": "approve", "count": "two", "scores": "1\nx", "extra": "{"},
        )
    problems = caught.value.detail
    assert [p["loc"] for p in problems] == [
        ["body", "response", "count"],
        ["body", "response", "scores"],
        ["body", "response", "extra"],
    ]
    assert problems[0]["msg"] == "'two' is not an integer"
    placed, loose = forms.errors_by_field(
        forms.fields_from_schema(Everything.model_json_schema()),
        [
            *problems,
            {"loc": ["body", "response", "address", "city"], "msg": "too short"},
            {"loc": ["body", "response", "tags", 3], "msg": "bad item"},
            {"loc": ["body", "response"], "msg": "whole"},
        ],
    )
    assert placed["address.city"] == ["too short"]
    assert placed["tags"] == ["bad item"]
    assert loose == ["whole"]


def test_anyof_null_refs_and_non_object_schemas() -> None:
    schema = {
        "$defs": {"Level": {"enum": ["low", "high"], "type": "string", "title": "Level"}},
        "type": "object",
        "properties": {
            "level": {"anyOf": [{"$ref": "#/$defs/Level"}, {"type": "null"}], "default": None},
            "n": {"type": ["integer", "null"], "exclusiveMinimum": 0},
            "flag": {"const": True},
        },
        "required": ["n"],
    }
    fields = by_name(forms.fields_from_schema(schema))
    assert fields["level"].kind == "radio" and fields["level"].nullable
    assert fields["level"].label == "Level"
    assert fields["n"].kind == "number" and fields["n"].attrs["min"] == "1"
    assert fields["flag"].kind == "radio" and fields["flag"].options[0].value == "true"
    assert forms.value_from_form(schema, {"level": "high", "n": "4", "flag": "true"}) == {
        "level": "high",
        "n": 4,
        "flag": True,
    }
    [root] = forms.fields_from_schema({"type": "integer", "maximum": 5})
    assert (root.name, root.kind, root.attrs["max"]) == ("value", "number", "5")
    assert forms.value_from_form({"type": "integer"}, {"value": "5"}) == 5
    assert forms.fields_from_schema(None) == []


def test_native_shapes() -> None:
    middleware = {
        "action_requests": [{"name": "send", "args": {"to": "a@b", "n": 2}, "description": "d"}],
        "review_configs": [{"action_name": "send", "allowed_decisions": ["approve", "reject"]}],
    }
    assert native.shape_of(middleware) == "middleware"
    [card] = native.cards(middleware)
    assert card.decisions == ["approve", "reject"]
    assert native.answer_from_form(middleware, {"card.0.type": "reject"}) == {
        "decisions": [{"type": "reject"}]
    }
    assert native.answer_from_form(
        middleware, {"card.0.type": "reject", "card.0.message": "no"}
    ) == {"decisions": [{"type": "reject", "message": "no"}]}
    inbox = [
        {
            "action_request": {"action": "post", "args": {"text": "hi"}},
            "config": {"allow_accept": True, "allow_edit": True, "allow_respond": True},
            "description": "Post it?",
        }
    ]
    assert native.shape_of(inbox) == "agent_inbox"
    assert native.cards(inbox)[0].decisions == ["accept", "edit", "response"]
    assert native.answer_from_form(inbox, {"card.0.type": "edit", "card.0.args.text": "hello"}) == [
        {"type": "edit", "args": {"action": "post", "args": {"text": "hello"}}}
    ]
    assert native.answer_from_form(inbox, {"card.0.type": "accept"}) == [
        {"type": "accept", "args": None}
    ]
    with pytest.raises(errors.ResponseInvalid):
        native.answer_from_form(inbox, {"card.0.type": "response", "card.0.message": " "})


def test_markdown_is_rendered_without_raw_html() -> None:
    out = str(present.markdown("**b** <script>x</script> [l](javascript:alert(1))"))
    assert "<strong>b</strong>" in out
    assert "<script>" not in out
    assert 'href="javascript' not in out
    assert headlines.headline({"kind": "deploy_approval"}) == "Deploy approval"
    assert headlines.headline({"x": 1}) == '{"x": 1}'
