"""Delegation: while a person is away, someone else answers for them.

A person sets ``{delegate, from, until}`` on their Account page or with
``PUT /api/v1/me/delegation`` (an admin for anyone: ``PUT /api/v1/users/{name}/delegation``).
During that window the delegate may answer whatever the person may: requests assigned to them
by name or through one of their groups (and, a link further, whatever those who delegated to
*them* may, up to `MAX_CHAIN` links; a cycle ends a chain, so A -> B -> A is harmless). The
answer is the delegate's, recorded for the person (``responded_for``): the audit reads
"answered by bo for ana". Outside the window the delegate is as anyone else (403 if the
request is not theirs). Notifications of requests routed to the person (new, reminded,
escalated) go to the delegate too while the window is open.

The answer path (`hitl.requests`) asks `stands_in_for` only when the answerer may not answer
in their own right, so delegation never narrows who may answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from pydantic import BaseModel, ConfigDict, Field

from hitl import errors
from hitl.assignment import Username
from hitl.db.sql import delegations as delegations_sql
from hitl.models import Request

#: Links a chain of delegations may have (A delegated to B, who delegated to C: two).
MAX_CHAIN = 3
MAX_WINDOW = timedelta(days=366)


class DelegationSet(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    delegate: Username = Field(description="Who answers for the person meanwhile.")
    starts_at: datetime = Field(alias="from", description="When it starts (with a time zone).")
    ends_at: datetime = Field(alias="until", description="When it ends (with a time zone).")


class Delegation(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    delegator: str
    delegate: str
    starts_at: datetime = Field(serialization_alias="from")
    ends_at: datetime = Field(serialization_alias="until")
    created_by: str


@dataclass(frozen=True)
class StandIn:
    """Someone a person answers for now, and that someone's groups."""

    delegator: str
    groups: frozenset[str]
    #: The delegator's identity (`Principal.subject`).
    subject: str = ""

    def covers(self, request: Request) -> bool:
        """Whether the request is routed to the person stood in for."""
        return self.delegator in request.assignees or bool(
            self.groups & set(request.assigned_groups)
        )


def _problem(field: str, msg: str) -> errors.InvalidInput:
    return errors.InvalidInput([{"loc": ["body", field], "msg": msg, "type": "value_error"}])


async def put(
    conn: AsyncConnection[Any], delegator: str, body: DelegationSet, actor: str
) -> Delegation:
    """Set (or replace) ``delegator``'s delegation. 422 naming the field: oneself, an unknown
    or disabled delegate, a time without a zone, an end not after the start, a window over a
    year; 404 for an unknown delegator."""
    for field, at in (("from", body.starts_at), ("until", body.ends_at)):
        if at.tzinfo is None:
            raise _problem(field, "give a time zone (e.g. 2026-07-01T09:00:00+02:00)")
    if body.ends_at <= body.starts_at:
        raise _problem("until", "must be after from")
    if body.ends_at - body.starts_at > MAX_WINDOW:
        raise _problem("until", "a delegation lasts at most a year")
    if body.delegate == delegator:
        raise _problem("delegate", "a person cannot delegate to themselves")
    cur = await conn.execute(
        "SELECT username, disabled_at FROM hitl_users WHERE username = ANY(%s)",
        ([delegator, body.delegate],),
    )
    found = {r["username"]: r for r in await cur.fetchall()}
    if delegator not in found:
        raise errors.NotFound(f"user {delegator!r} not found")
    if body.delegate not in found or found[body.delegate]["disabled_at"] is not None:
        raise _problem("delegate", f"no enabled user {body.delegate!r}")
    params = {
        "delegator": delegator,
        "delegate": body.delegate,
        "starts_at": body.starts_at,
        "ends_at": body.ends_at,
        "actor": actor,
    }
    row = await (await conn.execute(delegations_sql.SET_DELEGATION, params)).fetchone()
    assert row is not None
    return Delegation.model_validate(row)


async def get(conn: AsyncConnection[Any], delegator: str) -> Delegation | None:
    row = await (await conn.execute(delegations_sql.GET_DELEGATION, (delegator,))).fetchone()
    return Delegation.model_validate(row) if row is not None else None


#: Open delegations the People page lists.
LISTED = 500


async def open_ones(conn: AsyncConnection[Any]) -> list[Delegation]:
    """The delegations open now or starting later, soonest first."""
    cur = await conn.execute(delegations_sql.OPEN_DELEGATIONS, {"limit": LISTED})
    return [Delegation.model_validate(r) for r in await cur.fetchall()]


async def clear(conn: AsyncConnection[Any], delegator: str, actor: str) -> None:
    await conn.execute(delegations_sql.CLEAR_DELEGATION, {"delegator": delegator, "actor": actor})


async def acting_for(conn: AsyncConnection[Any], username: str) -> list[StandIn]:
    """Whom ``username`` answers for now (nearest first)."""
    cur = await conn.execute(delegations_sql.ACTING_FOR, {"username": username, "depth": MAX_CHAIN})
    rows = await cur.fetchall()
    return [StandIn(r["delegator"], frozenset(r["groups"]), r["subject"]) for r in rows]


async def stands_in_for(conn: AsyncConnection[Any], username: str, request: Request) -> str | None:
    """The person ``username`` may answer ``request`` for now, if any."""
    for stand_in in await acting_for(conn, username):
        if stand_in.covers(request):
            return stand_in.delegator
    return None
