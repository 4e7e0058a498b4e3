"""Webhook endpoints: register, read, change, delete, rotate the secret.

The secret is made here (`signing.new_secret`) and shown once, in the answer to the creation
or the rotation; reads never return it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
from psycopg import AsyncConnection
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hitl import _cursor, errors
from hitl.db import queries as q
from hitl.models import Page
from hitl.webhooks import EVENT_TYPES
from hitl.webhooks.signing import new_secret

MAX_URL_LENGTH = 2000


class EndpointNotFound(errors.NotFound):
    def __init__(self, endpoint_id: str) -> None:
        super().__init__(f"webhook endpoint {endpoint_id!r} not found")


def check_url(value: str) -> str:
    """An absolute http(s) URL with a host; raises ValueError saying what is wrong."""
    value = value.strip()
    if len(value) > MAX_URL_LENGTH:
        raise ValueError(f"must be at most {MAX_URL_LENGTH} characters")
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"not a URL: {exc}") from None
    if url.scheme not in ("http", "https"):
        raise ValueError("must be an http or https URL")
    if not url.host:
        raise ValueError("must name a host")
    if url.userinfo:
        raise ValueError("must not carry a user name or password")
    return value


def _check_events(events: list[str]) -> list[str]:
    for name in events:
        if name != "*" and name not in EVENT_TYPES:
            raise ValueError(f"unknown event type {name!r}; use '*' or one of {list(EVENT_TYPES)}")
    return list(dict.fromkeys(events))


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="Where to POST: an http or https URL.")
    events: list[str] = Field(
        description="Event types to receive ('*' for all); [] for request callbacks only."
    )
    description: str | None = Field(None, max_length=1000)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value)

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        return _check_events(value)


class EndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[str] | None = None
    enabled: bool | None = None
    description: str | None = Field(None, max_length=1000)

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _check_events(value)


class Endpoint(BaseModel):
    """A registered endpoint, without its secret."""

    id: str
    url: str
    events: list[str]
    description: str | None = None
    enabled: bool
    disabled_reason: str | None = None
    failing_since: datetime | None = None
    previous_secret_expires_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class EndpointWithSecret(Endpoint):
    """The answer to a creation or a rotation: the only time the secret is shown."""

    secret: str


def _record(row: dict[str, Any], cls: type[Endpoint] = Endpoint) -> Any:
    return cls.model_validate({**row, "id": str(row["id"])})


def _uuid(endpoint_id: str) -> str:
    try:
        return str(uuid.UUID(endpoint_id))
    except ValueError:
        raise EndpointNotFound(endpoint_id) from None


async def create(conn: AsyncConnection[Any], body: EndpointCreate) -> EndpointWithSecret:
    cur = await conn.execute(
        q.CREATE_ENDPOINT,
        {
            "url": body.url,
            "description": body.description,
            "events": body.events,
            "secret": new_secret(),
        },
    )
    row = await cur.fetchone()
    assert row is not None
    return _record(row, EndpointWithSecret)  # type: ignore[no-any-return]


async def get(conn: AsyncConnection[Any], endpoint_id: str) -> Endpoint:
    cur = await conn.execute(q.GET_ENDPOINT, (_uuid(endpoint_id),))
    row = await cur.fetchone()
    if row is None:
        raise EndpointNotFound(endpoint_id)
    return _record(row)  # type: ignore[no-any-return]


async def list_page(
    conn: AsyncConnection[Any], *, limit: int = 50, cursor: str | None = None
) -> Page[Endpoint]:
    at, key = _cursor.decode(cursor, uuid_key=True) if cursor else (None, None)
    cur = await conn.execute(q.LIST_ENDPOINTS, {"at": at, "key": key, "limit": limit + 1})
    rows = await cur.fetchall()
    items = [_record(r) for r in rows[:limit]]
    more = len(rows) > limit
    next_cursor = _cursor.encode(items[-1].created_at, items[-1].id) if more else None
    return Page[Endpoint](items=items, next_cursor=next_cursor)


async def update(conn: AsyncConnection[Any], endpoint_id: str, body: EndpointUpdate) -> Endpoint:
    cur = await conn.execute(
        q.UPDATE_ENDPOINT,
        {
            "id": _uuid(endpoint_id),
            "events": body.events,
            "enabled": body.enabled,
            "description": body.description,
        },
    )
    row = await cur.fetchone()
    if row is None:
        raise EndpointNotFound(endpoint_id)
    return _record(row)  # type: ignore[no-any-return]


async def delete(conn: AsyncConnection[Any], endpoint_id: str) -> None:
    cur = await conn.execute(q.DELETE_ENDPOINT, (_uuid(endpoint_id),))
    if await cur.fetchone() is None:
        raise EndpointNotFound(endpoint_id)


async def rotate_secret(
    conn: AsyncConnection[Any], endpoint_id: str, grace_seconds: float
) -> EndpointWithSecret:
    """A new secret; the old one keeps signing alongside it for ``grace_seconds``."""
    cur = await conn.execute(
        q.ROTATE_SECRET, {"id": _uuid(endpoint_id), "secret": new_secret(), "grace": grace_seconds}
    )
    row = await cur.fetchone()
    if row is None:
        raise EndpointNotFound(endpoint_id)
    return _record(row, EndpointWithSecret)  # type: ignore[no-any-return]


async def callback_endpoint(conn: AsyncConnection[Any], url: str) -> str | None:
    """The id of the enabled endpoint registered for ``url``, if any."""
    cur = await conn.execute(q.FIND_CALLBACK_ENDPOINT, (url.strip(),))
    row = await cur.fetchone()
    return str(row["id"]) if row else None


async def disable(conn: AsyncConnection[Any], endpoint_id: str, reason: str) -> bool:
    """Disable (by the service, with a ``webhook.endpoint_disabled`` event); False if it was."""
    cur = await conn.execute(q.DISABLE_ENDPOINT, {"id": endpoint_id, "reason": reason})
    return await cur.fetchone() is not None
