"""Comments: the discussion on a request, kept with it as part of the record.

Anyone who may answer requests (``requests:answer``) may comment on any request, pending or
not, the requester included (a four-eyes request is still theirs to discuss). A comment is
stored, never edited or deleted, shown in the timelines of the request page and the thread
page (`hitl.timeline`) and listed by ``GET /api/v1/requests/{id}/comments``; it writes a
``request.commented`` event and a ``request.comment`` audit entry with its text. ``@name``
mentions a user: the names that are users are kept with the comment, and a
``request.mentioned`` event addressed to them queues their notifications through the channels
already set up (email, Slack; see docs/notifications.md), which carry the link, not the
comment.

"Send back with a note" (`send_back`) answers a request with its response schema's reject or
request-changes choice and the note in its comment field, and keeps the note as a comment:
both in one transaction, through the one answer path (`hitl.requests`), so every rule of an
answer holds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ConfigDict, Field

from hitl import errors, requests
from hitl.auth.principal import Principal
from hitl.db.sql import comments as comments_sql
from hitl.models import Request

MAX_LENGTH = 10_000
# ``@name`` not inside a word or an address (``ana@example.com`` mentions nobody); a name
# ends before a trailing full stop.
MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9_.@-]{1,64})")

#: The choices a send-back answers with, the first the schema offers.
SEND_BACK_CHOICES = (
    "request_changes",
    "request-changes",
    "changes_requested",
    "needs_changes",
    "revise",
    "reject",
    "rejected",
    "deny",
    "denied",
    "decline",
)
#: Where its note goes, the first string field the schema has.
NOTE_FIELDS = ("note", "comment", "message", "reason", "feedback", "comments")


class CommentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(
        min_length=1, max_length=MAX_LENGTH, description="The text; @name mentions a user."
    )


class SendBack(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=MAX_LENGTH, description="Why it goes back.")


class Comment(BaseModel):
    id: int
    request_id: str
    author: str
    body: str
    #: The users its @names named.
    mentions: list[str] = Field(default_factory=list)
    created_at: datetime


def mentions(text: str) -> list[str]:
    """The names ``text`` mentions, each once, in order."""
    found = (m.group(1).rstrip(".") for m in MENTION.finditer(text))
    return list(dict.fromkeys(name for name in found if name))


async def add(conn: AsyncConnection[Any], request_id: str, body: str, by: Principal) -> Comment:
    """Record ``by``'s comment on the request (`errors.RequestNotFound` if there is none)."""
    text = body.strip()
    if not text:
        raise errors.InvalidInput(
            [{"loc": ["body", "body"], "msg": "write something", "type": "value_error"}]
        )
    request = await requests.get(conn, request_id)  # 404 for an id that is not a request's
    params = {
        "request_id": request.id,
        "author": by.name,
        "author_subject": by.subject,
        "body": text,
        "mentions": mentions(text),
    }
    row = await (await conn.execute(comments_sql.ADD_COMMENT, params)).fetchone()
    if row is None:  # deleted meanwhile
        raise errors.RequestNotFound(request_id)
    return from_row(row)


async def of_request(conn: AsyncConnection[Any], request_id: str) -> list[Comment]:
    """The request's comments, oldest first (404 if there is no such request)."""
    request = await requests.get(conn, request_id)
    cur = await conn.execute(comments_sql.COMMENTS_OF_REQUEST, (request.id,))
    return [from_row(row) for row in await cur.fetchall()]


def from_row(row: Mapping[str, Any]) -> Comment:
    """A stored ``hitl_request_comments`` row as a `Comment`."""
    return Comment.model_validate({**row, "request_id": str(row["request_id"])})


# -- send back with a note ---------------------------------------------------------------------


def send_back_answer(schema: Mapping[str, Any] | None, note: str) -> dict[str, Any] | None:
    """The answer that sends a request back with ``note``: its schema's reject or
    request-changes choice (`SEND_BACK_CHOICES`) in the property that offers it, and the note
    in its first string field of `NOTE_FIELDS`, if any; None if the schema offers no such
    choice."""
    properties = (schema or {}).get("properties")
    if not isinstance(properties, Mapping):
        return None
    chosen = None
    for name in sorted(properties, key=lambda n: n != "decision"):  # "decision" first
        offered = _choices(properties[name])
        choice = next((c for c in SEND_BACK_CHOICES if c in offered), None)
        if choice is not None:
            chosen = (name, choice)
            break
    if chosen is None:
        return None
    answer: dict[str, Any] = {chosen[0]: chosen[1]}
    field = next((f for f in NOTE_FIELDS if f in properties and _takes_text(properties[f])), None)
    if field is not None:
        answer[field] = note
    return answer


def _choices(prop: Any) -> list[Any]:
    if not isinstance(prop, Mapping):
        return []
    found = list(prop.get("enum") or [])
    if "const" in prop:
        found.append(prop["const"])
    for key in ("anyOf", "oneOf"):
        for option in prop.get(key) or []:
            found += _choices(option)
    return found


def _takes_text(prop: Any) -> bool:
    if not isinstance(prop, Mapping):
        return False
    if prop.get("type") == "string" or (
        isinstance(prop.get("type"), list) and "string" in prop["type"]
    ):
        return True
    return any(_takes_text(o) for key in ("anyOf", "oneOf") for o in prop.get(key) or [])


async def send_back(
    pool: AsyncConnectionPool[Any], request_id: str, note: str, by: Principal
) -> tuple[Request, Comment]:
    """Answer the request with its send-back choice and ``note`` (`send_back_answer`), and
    keep the note as ``by``'s comment, in one transaction. 422 (naming ``note``) if its schema
    has no such choice; otherwise as any answer (403, 409, 422)."""
    async with pool.connection() as conn, conn.transaction():
        request = await requests.get(conn, request_id)
        answer = send_back_answer(request.response_schema, note.strip())
        if answer is None:
            raise errors.InvalidInput(
                [
                    {
                        "loc": ["body", "note"],
                        "msg": "this request's response schema has no reject or "
                        "request-changes choice to send it back with",
                        "type": "value_error",
                    }
                ]
            )
        answered = await requests.respond_on(conn, request_id, answer, by)
        comment = await add(conn, request_id, note, by)
    return answered, comment
