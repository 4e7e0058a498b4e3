"""Assignment: who a request is for. Users by username, groups by name (tables of migration
0004); a request assigned to nobody is for any responder.

A request gets its assignment when it is created: from the interrupt value's ``assignees`` /
``assigned_groups``, else from the graph's registration (`register_graph(..., assignees=...,
groups=...)`); an external request from its ``routing``. `reassign` changes it later (the API's
``POST /api/v1/requests/{id}/assign`` and the request page), and an ``escalate`` deadline policy
does when the deadline passes (`hitl.timers`). Who may answer is decided elsewhere, from these
two lists.
"""

from __future__ import annotations

from typing import Annotated, Any

from psycopg import AsyncConnection
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from hitl import errors, requests
from hitl.db.sql import requests as requests_sql
from hitl.models import Request

# The same patterns as the CHECK constraints of hitl_users.username and hitl_groups.name.
USERNAME_PATTERN = r"^[A-Za-z0-9_.@-]{1,64}$"
GROUP_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
MAX_NAMES = 100

Username = Annotated[str, StringConstraints(pattern=USERNAME_PATTERN)]
GroupName = Annotated[str, StringConstraints(pattern=GROUP_PATTERN)]


def unique(names: list[str]) -> list[str]:
    """``names`` without repeats, in their first order."""
    return list(dict.fromkeys(names))


class Routing(BaseModel):
    """Users and groups a request is assigned to. Both empty: any responder."""

    model_config = ConfigDict(extra="forbid")

    assignees: list[Username] = Field(
        default_factory=list, max_length=MAX_NAMES, description="Usernames."
    )
    groups: list[GroupName] = Field(
        default_factory=list, max_length=MAX_NAMES, description="Group names."
    )

    @field_validator("assignees", "groups")
    @classmethod
    def _dedupe(cls, names: list[str]) -> list[str]:
        return unique(names)


async def check_known(
    conn: AsyncConnection[Any], routing: Routing, loc: tuple[str | int, ...]
) -> None:
    """Raise `errors.InvalidInput` naming each user or group that does not exist.

    Used where a client names them (the API); graphs' interrupt values and registrations are
    taken as they are, since a graph cannot be told about a typo by a 422.
    """
    if not routing.assignees and not routing.groups:
        return
    cur = await conn.execute(requests_sql.UNKNOWN_ASSIGNEES, (routing.assignees, routing.groups))
    row = await cur.fetchone()
    assert row is not None
    unknown_users = set(row["users"] or ())
    unknown_groups = set(row["groups"] or ())
    problems = [
        {"loc": [*loc, "assignees", i], "msg": f"no user {name!r}", "type": "value_error"}
        for i, name in enumerate(routing.assignees)
        if name in unknown_users
    ] + [
        {"loc": [*loc, "groups", i], "msg": f"no group {name!r}", "type": "value_error"}
        for i, name in enumerate(routing.groups)
        if name in unknown_groups
    ]
    if problems:
        raise errors.InvalidInput(problems)


async def reassign(
    conn: AsyncConnection[Any],
    request_id: str,
    routing: Routing,
    actor: str,
    loc: tuple[str | int, ...] = ("body",),
) -> Request:
    """Assign a pending request to ``routing`` (replacing its assignment), with its
    ``request.assigned`` event and ``request.assign`` audit entry (before and after).

    Raises `errors.RequestNotFound`, `errors.InvalidInput` (an unknown user or group, under
    ``loc``) or `errors.RequestNotPending`; nothing changes then.
    """
    current = await requests.get(conn, request_id)
    if current.state != "pending":
        raise errors.RequestNotPending(current.id, current.state, current)
    await check_known(conn, routing, loc)
    cur = await conn.execute(
        requests_sql.REASSIGN_REQUEST,
        {
            "id": current.id,
            "assignees": routing.assignees,
            "groups": routing.groups,
            "actor": actor,
        },
    )
    row = await cur.fetchone()
    if row is None:  # answered (or expired) meanwhile
        current = await requests.get(conn, request_id)
        raise errors.RequestNotPending(current.id, current.state, current)
    return requests.from_row(row)
