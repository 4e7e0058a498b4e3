"""Linking a Slack user to an account, when no confirmed email does it.

A Slack user the service does not know who clicks a button is told, privately, that they
cannot answer yet, with a link ``<HITL_PUBLIC_URL>/account/slack?link=<token>``: the token is
random, stored as its SHA-256 (``hitl_slack_links``), names that Slack user (Slack's signature
on the click vouches for it) and lasts `LIFETIME`. Whoever opens it signed in and confirms
(a POST with the session's CSRF token) links that Slack user to their account; the session
vouches for the account. A Slack user is linked to one account at most: linking moves it.
People unlink on their Account page. Both are audited (``account.slack_link``,
``account.slack_unlink``).
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from psycopg import AsyncConnection

from hitl import audit, errors
from hitl.db.sql import slack as slack_sql

LIFETIME = 15 * 60  # seconds
MAX_TOKEN_LENGTH = 100


class LinkInvalid(errors.NotFound):
    """This link to your Slack user is not valid any more: click a button in Slack again for
    a new one."""


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def offer(conn: AsyncConnection[Any], slack_user_id: str) -> str:
    """A new link token for ``slack_user_id``."""
    token = secrets.token_urlsafe(32)
    params = {"token_hash": _digest(token), "slack_user_id": slack_user_id, "ttl": LIFETIME}
    await conn.execute(slack_sql.OFFER_LINK, params)
    return token


async def peek(conn: AsyncConnection[Any], token: str) -> str:
    """The Slack user a live link names; `LinkInvalid` otherwise."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise LinkInvalid()
    cur = await conn.execute(slack_sql.PEEK_LINK, (_digest(token),))
    row = await cur.fetchone()
    if row is None:
        raise LinkInvalid()
    return str(row["slack_user_id"])


async def link(conn: AsyncConnection[Any], token: str, user_id: int, actor: str) -> str:
    """Spend the link and give its Slack user to account ``user_id``; returns the Slack user."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise LinkInvalid()
    async with conn.transaction():
        cur = await conn.execute(slack_sql.USE_LINK, (_digest(token),))
        row = await cur.fetchone()
        if row is None:
            raise LinkInvalid()
        slack_user = str(row["slack_user_id"])
        await conn.execute(slack_sql.UNLINK_SLACK_USER, (slack_user, user_id))
        await conn.execute(slack_sql.SET_SLACK_USER, (slack_user, user_id))
        await audit.record(conn, actor, "account.slack_link", actor, {"slack_user": slack_user})
    return slack_user


async def unlink(conn: AsyncConnection[Any], user_id: int, actor: str) -> None:
    async with conn.transaction():
        before = await linked(conn, user_id)
        await conn.execute(slack_sql.SET_SLACK_USER, (None, user_id))
        if before:
            await audit.record(conn, actor, "account.slack_unlink", actor, {"slack_user": before})


async def linked(conn: AsyncConnection[Any], user_id: int) -> str | None:
    cur = await conn.execute(slack_sql.SLACK_USER_OF, (user_id,))
    row = await cur.fetchone()
    return str(row["slack_user_id"]) if row and row["slack_user_id"] else None
