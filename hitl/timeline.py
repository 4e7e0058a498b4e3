"""A timeline: what happened on a thread, in the order it happened, a page at a time.

Its entries are the thread's requests (asked, and on the same line answered or closed) and
the comments on them, interleaved by time: the discussion sits where it took place, between
the questions it was about, as an auditor reads it and as a busy approver catches up on it. An
external request has no thread: its timeline is itself and its comments.

A long thread is read a page at a time, newest first before a cursor, however many requests
and comments it has: at most a page of each is read (`hitl.db.sql.timeline`) and `merge`
keeps the newest of both, so a page costs the same with ten comments or ten thousand. The
cursor is the last entry shown; at one time a request comes before the comments on it.

Who may see a timeline's comments is who may read requests (``requests:read``, as
``GET /api/v1/requests/{id}/comments``): callers build one only for such readers.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from hitl import _cursor, comments, errors, requests
from hitl.comments import Comment
from hitl.db.sql import timeline as timeline_sql
from hitl.models import Request

#: A cursor's key names its entry: ``r:<request id>`` or ``c:<comment id>``. A bare request id
#: is a cursor of the requests-only history before comments joined it (a bookmarked link).
_KEY = re.compile(r"(?:(r):)?([0-9a-fA-F-]{32,36})|(c):([0-9]{1,19})")
MAX_BIGINT = 2**63 - 1


@dataclass(frozen=True)
class Entry:
    """One line of a timeline: a request asked (``comment`` None), or a comment on
    ``request``."""

    request: Request
    comment: Comment | None = None

    @property
    def at(self) -> datetime:
        return self.comment.created_at if self.comment else self.request.created_at

    @property
    def order(self) -> tuple[datetime, int, int]:
        """Where the entry goes, oldest first: by time, a request before the comments of the
        same time, then by id (as the SQL orders them)."""
        if self.comment is not None:
            return (self.at, 1, self.comment.id)
        return (self.at, 0, uuid.UUID(self.request.id).int)

    @property
    def cursor(self) -> str:
        """The cursor of the page after this entry (the entries before it)."""
        if self.comment is not None:
            return _cursor.encode(self.at, f"c:{self.comment.id}")
        return _cursor.encode(self.at, f"r:{self.request.id}")


@dataclass(frozen=True)
class Timeline:
    """A page of a timeline: ``entries`` oldest first; ``next_cursor`` the page before them,
    if any; ``several_requests`` when the timeline spans more than one request (so a comment
    says which one it is on)."""

    entries: list[Entry]
    next_cursor: str | None = None
    several_requests: bool = False


def merge(
    asked: Iterable[Request],
    said: Iterable[Comment],
    *,
    commented_on: Mapping[str, Request],
    limit: int,
) -> list[Entry]:
    """The newest ``limit + 1`` entries of the requests ``asked`` and the comments ``said``,
    newest first (one more than a page tells that there is more). ``commented_on``: the
    requests the comments are on, by id (a comment on none of them is left out)."""
    entries = [Entry(r) for r in asked]
    # a request deleted between the reads (retention) takes its comments with it
    entries += [Entry(commented_on[c.request_id], c) for c in said if c.request_id in commented_on]
    entries.sort(key=lambda e: e.order, reverse=True)
    return entries[: limit + 1]


def page_of(newest_first: list[Entry], limit: int, *, paged: bool, thread: bool) -> Timeline:
    """The page from `merge`'s entries; ``paged``: this is not the first page; ``thread``: of
    a thread (which may have more requests than the page shows), not of an external request."""
    shown = newest_first[:limit]
    more = len(newest_first) > limit
    return Timeline(
        entries=shown[::-1],
        next_cursor=shown[-1].cursor if more else None,
        several_requests=thread and (paged or more or len({e.request.id for e in shown}) > 1),
    )


def decode(cursor: str | None) -> dict[str, Any]:
    """The query parameters of ``cursor`` (`hitl.db.sql.timeline`): ``at`` and one of
    ``request_key`` and ``comment_key``. 422 at ``query.cursor`` for what `Entry.cursor` does
    not make."""
    if cursor is None:
        return {"at": None, "request_key": None, "comment_key": None}
    at, key = _cursor.decode(cursor)
    found = _KEY.fullmatch(key)
    try:
        if found is None:
            raise ValueError(key)
        if found.group(3):
            comment_key = int(found.group(4))
            if comment_key > MAX_BIGINT:  # no such comment, and no bigint for Postgres
                raise ValueError(key)
            return {"at": at, "request_key": None, "comment_key": comment_key}
        return {"at": at, "request_key": str(uuid.UUID(found.group(2))), "comment_key": None}
    except ValueError:
        raise errors.InvalidInput(
            [
                {
                    "loc": ["query", "cursor"],
                    "msg": "not a cursor from this API",
                    "type": "value_error",
                }
            ]
        ) from None


async def of_thread(
    conn: AsyncConnection[Any], thread_id: str, *, limit: int, cursor: str | None = None
) -> Timeline:
    """A page of the thread's timeline: its latest ``limit`` entries before ``cursor``."""
    params = {**decode(cursor), "thread_id": thread_id, "limit": limit + 1}
    cur = await conn.execute(timeline_sql.REQUESTS_BEFORE, params)
    asked = [requests.from_row(row) for row in await cur.fetchall()]
    cur = await conn.execute(timeline_sql.COMMENTS_OF_THREAD_BEFORE, params)
    said = [comments.from_row(row) for row in await cur.fetchall()]
    commented_on = {r.id: r for r in asked}
    commented_on.update(await _requests_of(conn, said, known=commented_on))
    newest_first = merge(asked, said, commented_on=commented_on, limit=limit)
    return page_of(newest_first, limit, paged=cursor is not None, thread=True)


async def of_request(
    conn: AsyncConnection[Any], request: Request, *, limit: int, cursor: str | None = None
) -> Timeline:
    """A page of the timeline ``request`` is part of: its thread's, or for an external request
    the request and its comments."""
    if request.thread_id:
        return await of_thread(conn, request.thread_id, limit=limit, cursor=cursor)
    params = {**decode(cursor), "request_id": request.id, "limit": limit + 1}
    cur = await conn.execute(timeline_sql.COMMENTS_OF_REQUEST_BEFORE, params)
    said = [comments.from_row(row) for row in await cur.fetchall()]
    asked = [request] if _before(Entry(request), params) else []
    newest_first = merge(asked, said, commented_on={request.id: request}, limit=limit)
    return page_of(newest_first, limit, paged=cursor is not None, thread=False)


def _before(entry: Entry, params: Mapping[str, Any]) -> bool:
    """Whether ``entry`` comes before the cursor of ``params`` (is on its page or later)."""
    if params["at"] is None:
        return True
    if params["comment_key"] is not None:
        return entry.order < (params["at"], 1, params["comment_key"])
    return entry.order < (params["at"], 0, uuid.UUID(params["request_key"]).int)


async def _requests_of(
    conn: AsyncConnection[Any], said: list[Comment], *, known: Mapping[str, Request]
) -> dict[str, Request]:
    """The requests ``said`` is on that are not ``known`` (asked before this page), by id."""
    missing = sorted({c.request_id for c in said} - set(known))
    if not missing:
        return {}
    cur = await conn.execute(timeline_sql.REQUESTS_BY_ID, (missing,))
    found = [requests.from_row(row) for row in await cur.fetchall()]
    return {r.id: r for r in found}
