"""Quorum: a request decided by several people's votes rather than by one answer.

A request with ``approval`` terms (the interrupt value's ``approval``, else the graph's
registration's ``approval=``)::

    {"min": 2, "from": {"groups": ["release-managers"]}, "distinct": true,
     "veto": "any_reject", "approve": "approve", "reject": "reject"}

takes votes instead of a single answer. Who may vote:

- with ``from``: the people it names (``assignees``, and members of its ``groups``), and their
  delegates while a delegation is open (`hitl.delegation`). The request is routed to them too
  (``from`` joins its assignment). Others who may see or answer it (admins, its other
  assignees, API keys) may not vote. An escalation widens ``from`` by the people it escalates
  to.
- without ``from``: whoever may answer the request (its assignees, members of its groups,
  admins, API keys with the scope, delegates), so an escalation that reassigns it widens who
  may vote.

Four-eyes and claims apply to a vote as to an answer. Each vote goes through the one answer path
(`hitl.requests`): validated against the response schema, recorded with who, when, what, for
whom and through which door, audited (``request.vote``) and announced (``request.voted``).

A vote counts for one person: the voter, or the person they stand in for. Each person is
counted once (409 after that). With ``distinct: true`` (the default) each voter also votes once,
so a delegate who voted for Ana may not vote again for themselves; ``distinct: false`` lets a
delegate cast their own vote and one for each person they stand in for.

The request resolves (``reason``) when:

- ``quorum``: ``min`` votes approve (their decision is ``approve``: the vote's ``decision``
  field, or the vote itself when it is not an object), or, with ``veto: "none"``, ``min`` votes
  agree on another decision;
- ``veto``: with ``veto: "any_reject"`` (the default), any vote that does not approve decides
  at once;
- ``unreachable``: the people who may still vote are too few for ``min`` approvals. The decision
  is then the non-approving decision with most votes (the earliest on a tie), else ``reject``.
  This is judged where the voters are a closed list (``from``, or an assigned request's
  assignees, group members and admins) at each vote; an unassigned request without ``from``
  waits for votes or its deadline.

The deciding vote answers the request with ``{"decision", "reason", "votes"}`` (each vote:
``by``, ``responded_for``, ``decision``, ``response``, ``at``, ``via``), and the thread
resumes once with it. A vote after that gets 409, as any late answer. Votes take the request's
row lock, so two last votes at once resolve it once. A deadline's default answer answers it as
``system:timeout`` with its own value (``deadline_action: "default"``), the votes so far staying
on record.

This module is the rules (no I/O); `hitl.requests` applies them.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from hitl import policies
from hitl.assignment import Routing, unique

MAX_VOTERS = 100

Reason = Literal["quorum", "veto", "unreachable"]


class Voters(Routing):
    """Who may vote: people by name and members of groups."""

    @model_validator(mode="after")
    def _someone(self) -> Voters:
        if not (self.assignees or self.groups):
            raise ValueError("name at least one of assignees or groups")
        return self

    def include(self, name: str, groups: Iterable[str]) -> bool:
        """Whether the person ``name``, a member of ``groups``, is among them."""
        return name in self.assignees or not set(self.groups).isdisjoint(groups)

    def widened(self, assignees: list[str], groups: list[str]) -> Voters:
        """These voters and the people an escalation reassigns the request to."""
        return Voters(
            assignees=unique([*self.assignees, *assignees]),
            groups=unique([*self.groups, *groups]),
        )


class Approval(BaseModel):
    """A request's quorum terms."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    min: int = Field(ge=1, le=MAX_VOTERS, description="Approving votes that decide.")
    voters: Voters | None = Field(
        None,
        alias="from",
        description="Who may vote (assignees, groups); none: whoever may answer the request.",
    )
    distinct: bool = Field(
        True,
        description="Each voter votes once, even for people they stand in for; false: a "
        "delegate may vote for themselves and for each person they stand in for.",
    )
    veto: Literal["any_reject", "none"] = Field(
        "any_reject",
        description="any_reject: any vote that does not approve decides at once; none: "
        "another decision must gather min votes.",
    )
    approve: Any = Field("approve", description="The decision that approves.")
    reject: Any = Field(
        "reject",
        description="The decision when approval can no longer be reached and no vote "
        "decided otherwise.",
    )

    def stored(self) -> dict[str, Any]:
        """The terms as stored on the request and shown in the API."""
        unset = {"voters"} if self.voters is None else None
        return self.model_dump(mode="json", by_alias=True, exclude=unset)


APPROVAL: TypeAdapter[Approval] = TypeAdapter(Approval)


class Vote(BaseModel):
    """One person's vote, as the API shows it and the resumed graph receives it."""

    by: str
    #: The person the vote counts for when ``by`` stands in for them (`hitl.delegation`).
    responded_for: str | None = None
    decision: Any = None
    response: Any = None
    at: datetime
    via: str | None = None


@dataclass(frozen=True)
class Decision:
    value: Any
    reason: Reason


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


def counted(votes: list[Vote]) -> set[str]:
    """The people ``votes`` count for."""
    return {v.responded_for or v.by for v in votes}


def still_to_vote(
    terms: Approval, pool: Collection[str], votes: list[Vote], refused: Collection[str] = ()
) -> int:
    """How many of ``pool`` (the people who may vote) can still add a vote: not counted yet,
    not ``refused`` (four-eyes), and, with ``distinct``, not having voted for someone else."""
    done = counted(votes) | set(refused)
    if terms.distinct:
        done |= {v.by for v in votes}
    return len(set(pool) - done)


def _key(decision: Any) -> str:
    return json.dumps(decision, sort_keys=True)


def decide(terms: Approval, votes: list[Vote], still_open: int | None = None) -> Decision | None:
    """The decision ``votes`` (oldest first) reach under ``terms``, with ``still_open`` more
    votes possible (None: no limit known); None while undecided."""
    approving = [v for v in votes if v.decision == terms.approve]
    if len(approving) >= terms.min:
        return Decision(terms.approve, "quorum")
    others = [v for v in votes if v.decision != terms.approve]
    if terms.veto == "any_reject" and others:
        return Decision(others[0].decision, "veto")
    counts: dict[str, int] = {}
    first: dict[str, Vote] = {}
    for vote in others:
        key = _key(vote.decision)
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, vote)
        if counts[key] >= terms.min:
            return Decision(vote.decision, "quorum")
    if still_open is not None and len(approving) + still_open < terms.min:
        if not counts:
            return Decision(terms.reject, "unreachable")
        top = max(counts.values())
        # the earliest vote of the decisions with most votes
        leader = next(v for v in others if counts[_key(v.decision)] == top)
        return Decision(leader.decision, "unreachable")
    return None


def outcome(decision: Decision, votes: list[Vote]) -> dict[str, Any]:
    """The answer a decided request resumes its graph with."""
    return {
        "decision": decision.value,
        "reason": decision.reason,
        "votes": [v.model_dump(mode="json") for v in votes],
    }
