"""Webhook endpoints: register, read, change, delete, rotate the secret.

The secret is made here (`signing.new_secret`) and shown once, in the answer to the creation
or the rotation; reads never return it.

An endpoint belongs to the principal that registered it (``owner``, its `Principal.subject`),
because its secret vouches for what the service sends there: a callback signed with it is taken
by the receiving agent as an answer to its own request. So only the owner may name it as the
callback of an external request (`callback_endpoint`), unless an admin shared it
(``shared_with``: subjects, or ``*`` for every caller); and only the owner sees and changes it,
and its deliveries. Admins see and change every endpoint; endpoints registered before owners
were recorded have none and belong to the admins. Another principal's endpoint is "not found",
so its existence is not revealed.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

import httpx
from psycopg import AsyncConnection
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from hitl import _cursor, errors
from hitl.auth.principal import Principal
from hitl.db.sql import webhooks as webhooks_sql
from hitl.models import Page
from hitl.webhooks import EVENT_TYPES
from hitl.webhooks.signing import new_secret

MAX_URL_LENGTH = 2000
EVERYONE = "*"
"""In ``shared_with``: every caller allowed to create requests may name the endpoint."""
_SUBJECT = re.compile(r"(user|key):[1-9][0-9]{0,18}")


def owner_filter(principal: Principal) -> str | None:
    """Whose endpoints ``principal`` may see and change: its own (its subject), or every
    endpoint (None) for an admin."""
    return None if principal.is_admin else principal.subject


class EndpointNotFound(errors.NotFound):
    def __init__(self, endpoint_id: str) -> None:
        super().__init__(f"webhook endpoint {endpoint_id!r} not found")


class SharingForbidden(errors.Forbidden):
    """Only an admin may share an endpoint (shared_with); its owner may only clear it."""


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


def _check_subject(subject: str) -> str:
    if subject != EVERYONE and not _SUBJECT.fullmatch(subject):
        raise ValueError(
            f"{subject!r} is not a principal: use 'user:<id>', 'key:<id>' or '*' (everyone)"
        )
    return subject


Subject = Annotated[str, AfterValidator(_check_subject)]


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
    shared_with: list[Subject] | None = Field(
        None,
        max_length=100,
        description="Admins only: principals ('user:<id>', 'key:<id>', or '*' for every "
        "caller) that may name this endpoint as the callback of their requests.",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value)

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        return _check_events(value)

    @field_validator("shared_with")
    @classmethod
    def _shared_with(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else list(dict.fromkeys(value))


class EndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[str] | None = None
    enabled: bool | None = None
    description: str | None = Field(None, max_length=1000)
    shared_with: list[Subject] | None = Field(
        None, max_length=100, description="Admins only: see `EndpointCreate.shared_with`."
    )

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _check_events(value)

    @field_validator("shared_with")
    @classmethod
    def _shared_with(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else list(dict.fromkeys(value))


class Endpoint(BaseModel):
    """A registered endpoint, without its secret."""

    id: str
    url: str
    events: list[str]
    description: str | None = None
    enabled: bool
    #: Who registered it (`Principal.subject`) and their name; None: the admins' (registered
    #: before owners were recorded).
    owner: str | None = None
    owner_name: str | None = None
    #: Who else may name it as a callback (set by admins): subjects, or ``*`` for everyone.
    shared_with: list[str] = Field(default_factory=list)
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


async def _check_sharing(
    conn: AsyncConnection[Any], principal: Principal, shared_with: list[str] | None
) -> None:
    """Only admins share (an owner may only clear it), and only with principals that exist
    (422 naming the entry)."""
    if not shared_with:
        return
    if not principal.is_admin:
        raise SharingForbidden
    cur = await conn.execute(
        webhooks_sql.UNKNOWN_SUBJECTS, ([s for s in shared_with if s != EVERYONE],)
    )
    unknown = {row["s"] for row in await cur.fetchall()}
    problems = [
        {
            "loc": ["body", "shared_with", i],
            "msg": f"no user or API key is {subject!r}",
            "type": "value_error",
        }
        for i, subject in enumerate(shared_with)
        if subject in unknown
    ]
    if problems:
        raise errors.InvalidInput(problems)


async def create(
    conn: AsyncConnection[Any], body: EndpointCreate, principal: Principal
) -> EndpointWithSecret:
    """Register an endpoint owned by ``principal``."""
    await _check_sharing(conn, principal, body.shared_with)
    cur = await conn.execute(
        webhooks_sql.CREATE_ENDPOINT,
        {
            "url": body.url,
            "description": body.description,
            "events": body.events,
            "secret": new_secret(),
            "owner": principal.subject,
            "owner_name": principal.name,
            "shared_with": body.shared_with or [],
        },
    )
    row = await cur.fetchone()
    assert row is not None
    return _record(row, EndpointWithSecret)  # type: ignore[no-any-return]


async def get(conn: AsyncConnection[Any], endpoint_id: str, *, owner: str | None) -> Endpoint:
    """The endpoint, if ``owner`` owns it (any endpoint for ``owner=None``)."""
    cur = await conn.execute(webhooks_sql.GET_ENDPOINT, {"id": _uuid(endpoint_id), "owner": owner})
    row = await cur.fetchone()
    if row is None:
        raise EndpointNotFound(endpoint_id)
    return _record(row)  # type: ignore[no-any-return]


async def list_page(
    conn: AsyncConnection[Any],
    *,
    owner: str | None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[Endpoint]:
    """``owner``'s endpoints (every endpoint for ``owner=None``), newest first."""
    at, key = _cursor.decode(cursor, uuid_key=True) if cursor else (None, None)
    cur = await conn.execute(
        webhooks_sql.LIST_ENDPOINTS, {"at": at, "key": key, "limit": limit + 1, "owner": owner}
    )
    rows = await cur.fetchall()
    items = [_record(r) for r in rows[:limit]]
    more = len(rows) > limit
    next_cursor = _cursor.encode(items[-1].created_at, items[-1].id) if more else None
    return Page[Endpoint](items=items, next_cursor=next_cursor)


async def update(
    conn: AsyncConnection[Any], endpoint_id: str, body: EndpointUpdate, principal: Principal
) -> Endpoint:
    owner = owner_filter(principal)
    if body.shared_with is not None:
        await get(conn, endpoint_id, owner=owner)  # not found comes before forbidden
        await _check_sharing(conn, principal, body.shared_with)
    cur = await conn.execute(
        webhooks_sql.UPDATE_ENDPOINT,
        {
            "id": _uuid(endpoint_id),
            "owner": owner,
            "events": body.events,
            "enabled": body.enabled,
            "description": body.description,
            "shared_with": body.shared_with,
        },
    )
    row = await cur.fetchone()
    if row is None:
        raise EndpointNotFound(endpoint_id)
    return _record(row)  # type: ignore[no-any-return]


async def delete(conn: AsyncConnection[Any], endpoint_id: str, *, owner: str | None) -> None:
    cur = await conn.execute(
        webhooks_sql.DELETE_ENDPOINT, {"id": _uuid(endpoint_id), "owner": owner}
    )
    if await cur.fetchone() is None:
        raise EndpointNotFound(endpoint_id)


async def rotate_secret(
    conn: AsyncConnection[Any], endpoint_id: str, grace_seconds: float, *, owner: str | None
) -> EndpointWithSecret:
    """A new secret; the old one keeps signing alongside it for ``grace_seconds``."""
    cur = await conn.execute(
        webhooks_sql.ROTATE_SECRET,
        {"id": _uuid(endpoint_id), "secret": new_secret(), "grace": grace_seconds, "owner": owner},
    )
    row = await cur.fetchone()
    if row is None:
        raise EndpointNotFound(endpoint_id)
    return _record(row, EndpointWithSecret)  # type: ignore[no-any-return]


async def callback_endpoint(
    conn: AsyncConnection[Any], url: str, principal: Principal
) -> str | None:
    """The id of the enabled endpoint registered for ``url`` that ``principal`` may name as a
    callback: its own (an admin's include those without an owner), else one shared with it.
    None whether no endpoint has the URL or only others' have it: the caller cannot tell."""
    cur = await conn.execute(
        webhooks_sql.FIND_CALLBACK_ENDPOINT,
        {"url": url.strip(), "subject": principal.subject, "admin": principal.is_admin},
    )
    row = await cur.fetchone()
    return str(row["id"]) if row else None


async def disable(conn: AsyncConnection[Any], endpoint_id: str, reason: str) -> bool:
    """Disable (by the service, with a ``webhook.endpoint_disabled`` event); False if it was."""
    cur = await conn.execute(webhooks_sql.DISABLE_ENDPOINT, {"id": endpoint_id, "reason": reason})
    return await cur.fetchone() is not None
