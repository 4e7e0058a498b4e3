"""Claude Code's permission answers from a request, however it ended."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hitl.mcp_server import permission
from hitl.models import Request

ASKED = {"command": "rm -rf build"}


def request(state: str, response: Any = None) -> Request:
    now = datetime.now(UTC)
    return Request(
        id="r1",
        kind="external",
        state=state,  # type: ignore[arg-type]
        response=response,
        responded_by="alice" if response is not None else None,
        created_at=now,
        updated_at=now,
    )


def test_allow_runs_the_input_as_asked_unless_the_reviewer_edited_it() -> None:
    allowed = permission.decision(request("responded", {"behavior": "allow"}), ASKED)
    assert allowed == {"behavior": "allow", "updatedInput": ASKED}
    edited = {"behavior": "allow", "updatedInput": {"command": "ls"}}
    assert permission.decision(request("responded", edited), ASKED) == edited
    assert json.loads(permission.as_text(allowed)) == allowed


def test_deny_carries_the_reviewers_message_or_who_denied() -> None:
    said = {"behavior": "deny", "message": "no"}
    assert permission.decision(request("responded", said), ASKED) == said
    unsaid = permission.decision(request("responded", {"behavior": "deny"}), ASKED)
    assert unsaid == {"behavior": "deny", "message": "denied by alice"}


def test_no_decision_is_a_denial_that_says_why() -> None:
    for state, why in [
        ("expired", "deadline"),
        ("cancelled", "withdrawn"),
        ("pending", "withdrawn"),
    ]:
        found = permission.decision(request(state), ASKED)
        assert found["behavior"] == "deny"
        assert why in found["message"] and "r1" in found["message"]  # type: ignore[typeddict-item]


def test_the_title_names_the_tool_and_its_target() -> None:
    assert permission.title("Bash", ASKED) == "Allow Bash: rm -rf build"
    assert permission.title("Write", {"file_path": "/etc/hosts"}) == "Allow Write: /etc/hosts"
    assert permission.title("Think", {}) == "Allow Think?"
    assert len(permission.title("Bash", {"command": "x" * 900})) == 500
