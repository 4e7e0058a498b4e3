"""What a person is told in Slack when a click does not answer: another's claim (who, until
when), a second vote, four-eyes; and a vote that does not decide, acknowledged."""

from __future__ import annotations

from datetime import UTC, datetime

from hitl import errors, quorum
from hitl.models import Request
from hitl.notifications import slack_interactions

RID = "6f1c2a9e-0000-4000-8000-000000000001"
AT = datetime(2026, 12, 5, 10, 42, tzinfo=UTC)


def test_a_claim_refusal_names_the_claimer_and_the_time_out() -> None:
    until = datetime(2026, 12, 5, 11, 42, 30, tzinfo=UTC)
    said = slack_interactions.refusal(errors.Claimed(RID, "ana", until), None)
    assert said.startswith("ana claimed this request until 2026-12-05 11:42 UTC: ")
    assert "only they (or an admin) may answer it before then" in said


def test_a_second_vote_and_four_eyes_are_said_plainly() -> None:
    again = slack_interactions.refusal(errors.AlreadyVoted(RID, "ana"), None)
    assert again.startswith("You voted on this request already (one person, one vote)")
    own = slack_interactions.refusal(errors.SelfApproval(RID, "ana"), None)
    assert own == "You asked for this request, so another person must answer it (four-eyes)."


def test_a_vote_that_does_not_decide_is_acknowledged_with_the_count() -> None:
    request = Request.model_validate(
        {"id": RID, "state": "pending", "approval": {"min": 2}, "created_at": AT, "updated_at": AT}
    )
    votes = [quorum.Vote(by="ana", decision="approve", at=AT)]
    assert slack_interactions.vote_recorded(request, votes) == (
        "Your vote is recorded (1 of 2 approvals so far); the request waits for more votes."
    )
