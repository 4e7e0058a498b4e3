"""One-click answers from email: a token per button, per recipient, used once.

Each answer button of a notification email links to ``<HITL_PUBLIC_URL>/answer/<token>``. The
token is random (32 bytes), kept only as its SHA-256 (``hitl_answer_tokens``), and bound to
one request, one choice and one person; it expires at the request's deadline (`lifetime`).

Opening the link (a GET) changes nothing: it shows what is asked, the choice and the person,
so mail scanners and link previews that fetch every URL cannot answer. Confirming (a POST with
the token) answers as that person through `hitl.requests.respond_on`, with every check a web
answer gets (assignment, first answer wins, deadline, validation), and spends the token in
the same transaction: a refused answer leaves it unspent, an accepted one cannot be repeated.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from hitl import errors, requests
from hitl.auth import Principal
from hitl.auth.principal import for_user
from hitl.db.sql import answer_tokens as tokens_sql
from hitl.models import Request
from hitl.notifications.choices import Choice

#: How long a token lives when its request has no deadline.
NO_DEADLINE_LIFETIME = timedelta(days=7)
#: The longest a token is, so a malformed one is refused before any hashing or query.
MAX_TOKEN_LENGTH = 100


class TokenUnknown(errors.NotFound):
    """This answer link is not valid: it may have been mistyped or cut off."""


class TokenSpent(errors.Conflict):
    """This answer link was used already: each link answers once."""


class TokenExpired(errors.Conflict):
    """This answer link expired with the request's deadline."""


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def lifetime(deadline_at: datetime | None, now: datetime | None = None) -> datetime:
    """When a request's tokens expire: at its deadline, or `NO_DEADLINE_LIFETIME` from now."""
    if deadline_at is not None:
        return deadline_at
    return (now or datetime.now(UTC)) + NO_DEADLINE_LIFETIME


@dataclass(frozen=True)
class Ticket:
    """What a token stands for: a choice, for a request, by a person."""

    request_id: str
    choice: Any
    label: str
    expires_at: datetime
    used_at: datetime | None
    expired: bool
    person: Principal
    disabled: bool


async def issue(
    conn: AsyncConnection[Any],
    *,
    request_id: str,
    username: str,
    choices: list[Choice],
    expires_at: datetime,
    notification_id: str | None = None,
) -> list[tuple[Choice, str]]:
    """A fresh token per choice for ``username``; none for an account that no longer exists."""
    issued = []
    for choice in choices:
        token = secrets.token_urlsafe(32)
        cur = await conn.execute(
            tokens_sql.ISSUE,
            {
                "token_hash": digest(token),
                "request_id": request_id,
                "username": username,
                "choice": Jsonb(choice.value),
                "label": choice.label,
                "notification_id": notification_id,
                "expires_at": expires_at,
            },
        )
        if await cur.fetchone() is None:
            return []
        issued.append((choice, token))
    return issued


async def lookup(conn: AsyncConnection[Any], token: str) -> Ticket:
    """The token's ticket; `TokenUnknown` for one this service did not issue."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise TokenUnknown()
    cur = await conn.execute(tokens_sql.LOOKUP, (digest(token),))
    row = await cur.fetchone()
    if row is None:
        raise TokenUnknown()
    return Ticket(
        request_id=str(row["request_id"]),
        choice=row["choice"],
        label=row["label"],
        expires_at=row["expires_at"],
        used_at=row["used_at"],
        expired=row["expired"],
        person=for_user(
            user_id=row["user_id"],
            username=row["username"],
            role=row["role"],
            groups=frozenset(row["groups"]),
            display_name=row["display_name"],
        ),
        disabled=row["disabled_at"] is not None,
    )


async def answer(pool: AsyncConnectionPool[Any], token: str) -> tuple[Ticket, Request]:
    """Answer with the token's choice as its person, spending it. Raises `TokenUnknown`,
    `TokenSpent`, `TokenExpired`, `errors.Forbidden` (a disabled account), and whatever
    `hitl.requests.respond_on` raises (the request answered first, reassigned, invalid);
    then nothing changed and the token stays unspent."""
    async with pool.connection() as conn:
        ticket = await lookup(conn, token)
        if ticket.disabled:
            raise errors.Forbidden("this account is disabled: it cannot answer")
        async with conn.transaction():
            cur = await conn.execute(tokens_sql.USE, (digest(token),))
            if await cur.fetchone() is None:
                fresh = await lookup(conn, token)
                raise TokenSpent() if fresh.used_at is not None else TokenExpired()
            answered = await requests.respond_on(
                conn, ticket.request_id, ticket.choice, ticket.person, via={"via": "email"}
            )
    return ticket, answered
