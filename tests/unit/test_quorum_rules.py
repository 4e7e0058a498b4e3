"""Quorum's rules (hitl/quorum.py): what votes decide, when approval is out of reach, how
many may still vote, and where the voters join the assignment (hitl/deadlines.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from hitl import deadlines, quorum
from hitl.config import Settings

NOW = datetime.now(UTC)


def votes(*cast: tuple[str, Any] | tuple[str, Any, str]) -> list[quorum.Vote]:
    return [
        quorum.Vote(by=c[0], decision=c[1], responded_for=c[2] if len(c) > 2 else None, at=NOW)
        for c in cast
    ]


def terms(**given: Any) -> quorum.Approval:
    return quorum.check({"min": 2, **given})


def test_approvals_meet_the_threshold_and_a_reject_vetoes() -> None:
    assert quorum.decide(terms(), votes(("ana", "approve"))) is None
    assert quorum.decide(terms(), votes(("ana", "approve"), ("bo", "approve"))) == (
        quorum.Decision("approve", "quorum")
    )
    assert quorum.decide(terms(), votes(("ana", "approve"), ("bo", "hold"))) == (
        quorum.Decision("hold", "veto")
    )
    counted = terms(veto="none")
    assert quorum.decide(counted, votes(("ana", "reject"))) is None
    assert quorum.decide(counted, votes(("ana", "reject"), ("bo", "reject"))) == (
        quorum.Decision("reject", "quorum")
    )


def test_out_of_reach_decides_with_the_most_voted_other_decision() -> None:
    counted = terms(min=3, veto="none", reject="no")
    cast = votes(("ana", "hold"), ("bo", "approve"), ("cy", "reject"), ("di", "reject"))
    assert quorum.decide(counted, cast, still_open=2) is None  # 1 + 2 approvals possible
    assert quorum.decide(counted, cast, still_open=1) == quorum.Decision("reject", "unreachable")
    tie = votes(("ana", "hold"), ("cy", "reject"))
    assert quorum.decide(counted, tie, still_open=0) == quorum.Decision("hold", "unreachable")
    # nobody said otherwise: the terms' reject
    assert quorum.decide(counted, votes(("ana", "approve")), 0) == (
        quorum.Decision("no", "unreachable")
    )
    assert quorum.decide(counted, votes(("ana", "approve")), None) is None  # an open list


def test_who_may_still_vote() -> None:
    pool = ["ana", "bo", "cy", "di"]
    cast = votes(("di", "approve", "ana"))  # di voted for ana
    assert quorum.still_to_vote(terms(), pool, cast) == 2  # bo, cy: di voted once
    assert quorum.still_to_vote(terms(distinct=False), pool, cast) == 3  # di may for herself
    assert quorum.still_to_vote(terms(), pool, cast, refused=["bo"]) == 1


def test_bad_terms_are_named() -> None:
    for bad, named in (
        ({"min": 0}, "min"),
        ({"min": 2, "from": {}}, "at least one of assignees or groups"),
        ({"min": 2, "from": {"groups": ["no spaces"]}}, "from.groups"),
        ({"min": 2, "distinct": "maybe"}, "distinct"),
    ):
        with pytest.raises(ValueError, match="approval") as info:
            quorum.check(bad)
        assert named in str(info.value)


def test_the_voters_join_the_assignment_and_stay_in_the_stored_terms() -> None:
    defaults = deadlines.defaults_from(Settings())
    value = {
        "assigned_groups": ["ops"],
        "approval": {"min": 2, "from": {"assignees": ["ana"], "groups": ["security", "ops"]}},
    }
    made, problems = deadlines.for_interrupt(value, defaults)
    assert problems == []
    assert made.assignees == ["ana"] and made.groups == ["ops", "security"]
    assert made.approval is not None
    assert made.approval["from"] == {"assignees": ["ana"], "groups": ["security", "ops"]}
    widened = quorum.check(made.approval).voters
    assert widened is not None
    assert widened.widened(["bo"], ["ops"]).model_dump() == {
        "assignees": ["ana", "bo"],
        "groups": ["security", "ops"],
    }
    plain, _ = deadlines.for_interrupt({"approval": {"min": 2}}, defaults)
    assert plain.assignees == [] and plain.approval is not None and "from" not in plain.approval
