"""Slack app mode's blocks: which requests get a modal, and reading a modal's values back."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from hitl.notifications import slack_blocks


class Refund(BaseModel):
    amount: int
    reason: str | None = None
    express: bool = False


def field_of(kind: str, value: Any = None, option: str | None = None) -> dict[str, Any]:
    raw: dict[str, Any] = {"type": kind}
    if option is not None:
        raw["selected_option"] = {"text": {"type": "plain_text", "text": option}, "value": option}
    else:
        raw["value"] = value
    return {"value": raw}


def test_a_small_flat_schema_becomes_inputs_and_reads_back_typed() -> None:
    schema = Refund.model_json_schema()
    fields = slack_blocks.form_fields(schema)
    assert [(f.name, f.kind, f.required) for f in fields] == [
        ("amount", "integer", True),
        ("reason", "string", False),  # an Optional: anyOf with null
        ("express", "boolean", False),
    ]
    values = {
        "field:amount": field_of("number_input", "12"),
        "field:reason": field_of("plain_text_input", None),
        "field:express": field_of("radio_buttons", option="true"),
    }
    assert slack_blocks.answer_of(schema, values) == ({"amount": 12, "express": True}, {})
    values["field:amount"] = field_of("number_input", "twelve")
    assert slack_blocks.answer_of(schema, values)[1] == {"field:amount": "must be a whole number"}
    del values["field:amount"]
    assert slack_blocks.answer_of(schema, values)[1] == {"field:amount": "required"}


def test_nested_or_large_schemas_get_no_modal() -> None:
    nested = {"type": "object", "properties": {"a": {"type": "object"}}}
    many = {"type": "object", "properties": {f"f{i}": {"type": "string"} for i in range(7)}}
    listed = {"type": "object", "properties": {"tags": {"type": "array"}}}
    for schema in (nested, many, listed, {"type": "string"}, None):
        assert slack_blocks.form_fields(schema) == []


def test_422_reasons_land_on_their_fields() -> None:
    schema = Refund.model_json_schema()
    problems = [
        {"loc": ["body", "response", "amount"], "msg": "0 is less than the minimum of 1"},
        {"loc": ["body", "response"], "msg": "'amount' is a required property"},
    ]
    assert slack_blocks.errors_by_block(problems, schema) == {
        "field:amount": "0 is less than the minimum of 1; 'amount' is a required property"
    }


def test_text_from_agents_cannot_ping_or_forge_links() -> None:
    assert slack_blocks.escape("<!channel> & <http://x|y>") == (
        "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"
    )
