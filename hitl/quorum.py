"""Quorum: a request decided by several people's votes rather than by one answer.

A request with ``approval`` terms (the interrupt value's ``approval``, else the graph's
registration's ``approval=``)::

    {"min": 2, "veto": "any_reject", "approve": "approve"}

takes votes instead of a single answer. Whoever may answer the request may vote (its
assignees, members of its groups, admins; four-eyes and claims apply as to an answer), so an
escalation that reassigns it widens who may vote. Each vote goes through the one answer path
(`hitl.requests`): validated against the response schema, recorded with who, when, what and
through which door, audited (``request.vote``) and announced (``request.voted``). One person
votes once (409 after that). The request resolves when:

- ``min`` votes approve (their decision is ``approve``: the vote's ``decision`` field, or the
  vote itself when it is not an object), or
- ``veto: "any_reject"`` (the default): any vote that does not approve decides at once, or
- ``veto: "none"``: any other decision gathers ``min`` votes first.

The deciding vote answers the request with ``{"decision": ..., "votes": [...]}`` (each vote:
``by``, ``decision``, ``response``, ``at``, ``via``), and the thread resumes once with it. A
vote after that gets 409, as any late answer. Votes take the request's row lock, so two last
votes at once resolve it once. A deadline's default answer answers it as ``system:timeout``
with its own value (``deadline_action: "default"``), the votes so far staying on record.

This module is the rules (no I/O); `hitl.requests` applies them.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from hitl import policies

MAX_VOTERS = 100


class Approval(BaseModel):
    """A request's quorum terms."""

    model_config = ConfigDict(extra="forbid")

    min: int = Field(ge=1, le=MAX_VOTERS, description="Approving votes that decide.")
    veto: Literal["any_reject", "none"] = Field(
        "any_reject",
        description="any_reject: any vote that does not approve decides at once; none: "
        "another decision must gather min votes.",
    )
    approve: Any = Field("approve", description="The decision that approves.")


APPROVAL: TypeAdapter[Approval] = TypeAdapter(Approval)


class Vote(BaseModel):
    """One person's vote, as the API shows it and the resumed graph receives it."""

    by: str
    decision: Any = None
    response: Any = None
    at: datetime
    via: str | None = None


def check(value: Any) -> Approval:
    """Validated terms (raises `ValueError` naming the problem)."""
    try:
        return APPROVAL.validate_python(value)
    except ValidationError as exc:
        raise ValueError(f"approval: {policies.first_error(exc)}") from None


def decision_of(response: Any) -> Any:
    """What a vote decides: its ``decision`` field, or the vote itself."""
    if isinstance(response, dict) and "decision" in response:
        return response["decision"]
    return response


def decide(terms: Approval, votes: list[Vote]) -> Any | None:
    """The decision ``votes`` (oldest first) reach under ``terms``; None while undecided."""
    approving = [v for v in votes if v.decision == terms.approve]
    if len(approving) >= terms.min:
        return terms.approve
    others = [v for v in votes if v.decision != terms.approve]
    if terms.veto == "any_reject" and others:
        return others[0].decision
    if terms.veto == "none":
        counts: dict[str, int] = {}
        for vote in others:
            key = json.dumps(vote.decision, sort_keys=True)
            counts[key] = counts.get(key, 0) + 1
            if counts[key] >= terms.min:
                return vote.decision
    return None


def outcome(decision: Any, votes: list[Vote]) -> dict[str, Any]:
    """The answer a decided request resumes its graph with."""
    return {"decision": decision, "votes": [v.model_dump(mode="json") for v in votes]}
