"""Input and answer validation: errors name the field; what pydantic cannot judge passes on."""

from __future__ import annotations

import pytest

from hitl import errors
from hitl.registry import default_registry, load_modules
from hitl.validation import schema_errors, unusable, validate_input

DECISION = {
    "type": "object",
    "properties": {"decision": {"enum": ["approve", "reject"]}, "n": {"type": "integer"}},
    "required": ["decision"],
}


def test_answer_errors_are_located_at_the_field() -> None:
    assert schema_errors(DECISION, {"decision": "maybe"}, ("body", "response"))[0]["loc"] == [
        "body",
        "response",
        "decision",
    ]
    missing = schema_errors(DECISION, {}, ("body", "response"))
    assert missing[0]["loc"] == ["body", "response", "decision"]
    assert missing[0]["type"] == "required"
    assert schema_errors(DECISION, {"decision": "approve", "n": 1}, ("r",)) == []


def test_input_defaults_are_filled_and_errors_located() -> None:
    load_modules(["graphs"])
    adapter = default_registry.get("code_review").input_adapter
    assert validate_input(adapter, {"diff": "x"})["title"] is None
    with pytest.raises(errors.InvalidInput) as caught:
        validate_input(adapter, {"diff": ""})
    assert caught.value.detail[0]["loc"] == ["body", "input", "diff"]


def test_agent_messages_the_graph_coerces_pass_through() -> None:
    """langchain's agent state cannot be checked by pydantic from plain JSON (a TypeError, not a
    ValidationError): the graph coerces the dicts itself, so the input is passed on unchanged."""
    load_modules(["graphs.langchain_agent"])
    adapter = default_registry.get("refund_agent").input_adapter
    value = {"messages": [{"role": "user", "content": "refund A-1001"}]}
    assert validate_input(adapter, value) == value


def test_a_graph_schemas_verdict_is_the_same_when_remembered() -> None:
    bad = {"type": "object", "properties": {"x": {"type": 5}}}
    dangling = {"$ref": "#/$defs/missing"}
    for schema in (bad, dangling, {"type": "object"}, {"p": "x" * 30_000}):
        first = unusable(schema)
        assert unusable(schema) == unusable(dict(schema)) == first
    assert unusable(bad) is not None and "properties.x.type" in str(unusable(bad))
    assert unusable(dangling) is not None and unusable({"type": "object"}) is None
