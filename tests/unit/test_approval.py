"""Answer models for the approval interrupts, and the deploy record."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from nodes.approval import DeployDecision, ReviewDecision, title_of
from nodes.deploy import deployed, deployment_id, release


def test_review_decision_accepts_the_three_answers_only() -> None:
    for decision in ("approve", "reject", "request_changes"):
        assert ReviewDecision(decision=decision).comment is None  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        ReviewDecision.model_validate({"decision": "maybe"})
    with pytest.raises(ValidationError):
        ReviewDecision.model_validate({"decision": "approve", "extra": 1})


def test_deploy_decision_has_no_request_changes() -> None:
    with pytest.raises(ValidationError):
        DeployDecision.model_validate({"decision": "request_changes"})
    schema = DeployDecision.model_json_schema()
    assert schema["properties"]["decision"]["enum"] == ["approve", "reject"]
    assert schema["required"] == ["decision"]


def test_title_falls_back_to_the_files() -> None:
    assert title_of({"title": "Fix login"}) == "Fix login"
    files = [{"path": p} for p in ("a.py", "b.py", "c.py")]
    assert title_of({"analysis": {"files": files}}) == "Change to a.py, b.py and 1 more"
    assert title_of({}) == "Change"


def test_deploy_records_a_deterministic_id() -> None:
    state = {"diff": "d", "tests": {"command": "true"}, "deploy_decision": {"comment": "go"}}
    update = deployed(state, release("d", "key-1"))
    assert update["deployment"]["id"] == deployment_id("d") == release("d", "key-2")["id"]
    assert update["deployment"]["environment"] == "production"
    assert update["deployment"]["deployed_at"].endswith("+00:00")
    assert update["deployment"]["idempotency_key"] == "key-1"
    assert update["outcome"] == "deployed"
    assert update["reason"].endswith("after `true` passed and approval (go).")
