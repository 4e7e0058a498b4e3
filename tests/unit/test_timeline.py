"""The timeline's order and pages (hitl/timeline.py), without a database: requests and
comments interleave by time, a request before the comments of its own time, and a cursor
names the entry a page ended on."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from hitl import _cursor, errors, timeline
from hitl.comments import Comment
from hitl.models import Request

T0 = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)


def asked(minute: int, n: int = 1) -> Request:
    return Request(
        id=str(uuid.UUID(int=n)),
        thread_id="t",
        state="pending",
        created_at=at(minute),
        updated_at=at(minute),
    )


def said(minute: int, comment_id: int, on: Request) -> Comment:
    return Comment(id=comment_id, request_id=on.id, author="ana", body="hi", created_at=at(minute))


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def names(entries: list[timeline.Entry]) -> list[str]:
    return [f"c{e.comment.id}" if e.comment else f"r{uuid.UUID(e.request.id).int}" for e in entries]


def test_comments_interleave_with_requests_by_time() -> None:
    first, second = asked(0, 1), asked(10, 2)
    comments = [said(5, 1, first), said(12, 2, first), said(10, 3, second)]
    merged = timeline.merge(
        [second, first], comments, commented_on={first.id: first, second.id: second}, limit=10
    )
    # newest first; at 10 the request comes before the comment of that time (oldest first)
    assert names(merged) == ["c2", "c3", "r2", "c1", "r1"]
    page = timeline.page_of(merged, 10, paged=False, thread=True)
    assert names(page.entries) == ["r1", "c1", "r2", "c3", "c2"]
    assert page.next_cursor is None and page.several_requests


def test_a_page_keeps_the_newest_and_its_cursor_names_the_last_shown() -> None:
    request = asked(0)
    comments = [said(1, i, request) for i in range(1, 6)]  # one time, told apart by id
    merged = timeline.merge([request], comments, commented_on={request.id: request}, limit=3)
    assert names(merged) == ["c5", "c4", "c3", "c2"]  # one more than a page: there is more
    page = timeline.page_of(merged, 3, paged=False, thread=True)
    assert names(page.entries) == ["c3", "c4", "c5"]
    assert page.next_cursor is not None
    params = timeline.decode(page.next_cursor)
    assert params == {"at": at(1), "request_key": None, "comment_key": 3}
    # a thread's earlier page may hold other requests: a comment says which it is on
    assert page.several_requests
    alone = timeline.page_of(merged[:2], 3, paged=False, thread=True)
    assert not alone.several_requests  # the whole timeline, one request: nothing to tell apart


def test_cursors_name_a_request_or_a_comment_and_nothing_else() -> None:
    rid = str(uuid.UUID(int=7))
    assert timeline.decode(None) == {"at": None, "request_key": None, "comment_key": None}
    assert timeline.decode(timeline.Entry(asked(3, 7)).cursor)["request_key"] == rid
    # a cursor of the requests-only history, from before comments joined it
    assert timeline.decode(_cursor.encode(at(3), rid))["request_key"] == rid
    for key in (
        "c:",
        "c:-1",
        "c:1e3",
        "r:not-a-uuid",
        "x:1",
        "c:" + "9" * 20,
        "c:" + "9" * 19,
        rid + "\n",
    ):
        with pytest.raises(errors.InvalidInput):
            timeline.decode(_cursor.encode(at(3), key))
    with pytest.raises(errors.InvalidInput):
        timeline.decode("not-a-cursor")


def test_an_external_request_never_says_which_request() -> None:
    request = asked(0).model_copy(update={"thread_id": None, "kind": "external"})
    comments = [said(i, i, request) for i in range(1, 5)]
    merged = timeline.merge([], comments, commented_on={request.id: request}, limit=2)
    page = timeline.page_of(merged, 2, paged=True, thread=False)
    assert not page.several_requests
