"""Slack app mode's blocks: which requests get a modal, and reading a modal's values back;
the claim and the votes so far on a waiting request's message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from hitl import quorum
from hitl.models import Request
from hitl.notifications import content, slack_app, slack_blocks


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


NOW = datetime(2026, 12, 5, 10, 42, tzinfo=UTC)
APPROVAL = {
    "type": "object",
    "properties": {"decision": {"enum": ["approve", "reject"]}},
    "required": ["decision"],
}


def request_of(**fields: Any) -> Request:
    base: dict[str, Any] = {
        "id": "6f1c2a9e-0000-4000-8000-000000000001",
        "state": "pending",
        "graph": "deploy",
        "value": {"question": "Ship 4.2?"},
        "response_schema": APPROVAL,
        "created_at": NOW,
        "updated_at": NOW,
    }
    return Request.model_validate({**base, **fields})


def vote(by: str, decision: Any) -> quorum.Vote:
    return quorum.Vote(by=by, decision=decision, response={"decision": decision}, at=NOW)


def rendered(request: Request, votes: list[quorum.Vote] | None = None) -> dict[str, str]:
    """The context blocks of the request's message that have ids, by id."""
    facts = slack_app.facts_of(request)
    text = content.build("request.created", facts, {}, "http://hitl")
    message = slack_blocks.message(text, request, votes or [])
    return {
        b["block_id"]: b["elements"][0]["text"]
        for b in message["blocks"]
        if b["type"] == "context" and "block_id" in b
    }


def test_a_live_claim_is_a_line_of_its_own_until_it_times_out_or_the_request_is_answered() -> None:
    until = datetime.now(UTC) + timedelta(hours=1)
    claimed = request_of(claimed_by="ana", claimed_by_subject="user:1", claim_expires_at=until)
    line = rendered(claimed)[slack_blocks.CLAIM_BLOCK]
    assert line == f":lock: Claimed by ana until {content.when(until)}"
    assert content.when(until).endswith(" UTC")
    expired = claimed.model_copy(update={"claim_expires_at": datetime.now(UTC) - timedelta(1)})
    assert slack_blocks.CLAIM_BLOCK not in rendered(expired)
    answered = claimed.model_copy(update={"state": "responded", "response": {"decision": "ok"}})
    assert rendered(answered) == {}
    assert rendered(request_of()) == {}  # nobody claimed it


def test_a_quorum_requests_copies_count_its_votes() -> None:
    quorum_request = request_of(approval={"min": 2, "veto": "any_reject", "approve": "approve"})
    assert rendered(quorum_request)[slack_blocks.VOTES_BLOCK].endswith("0 of 2 approvals")
    one = [vote("ana", "approve")]
    assert slack_blocks.tally(quorum_request, one) == "1 of 2 approvals"
    counted = quorum_request.model_copy(update={"approval": {"min": 3, "veto": "none"}})
    mixed = [*one, vote("bo", "reject"), vote("cy", "reject")]
    assert slack_blocks.tally(counted, mixed) == "1 of 3 approvals, 2 reject"
    assert slack_blocks.tally(request_of(), one) is None  # one answer decides
    assert slack_blocks.VOTES_BLOCK not in rendered(
        quorum_request.model_copy(update={"state": "responded"}), one
    )
