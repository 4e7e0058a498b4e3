"""Accounts and keys over REST: ``/api/v1/me``, ``/api/v1/users``, ``/api/v1/apikeys``, and
the audit log at ``/api/v1/audit``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from hitl import audit, errors
from hitl.api.deps import Admin, Authenticated, CanReadAudit, Person, ServiceDep
from hitl.auth import apikeys, users
from hitl.auth.apikeys import ApiKey, NewApiKey
from hitl.auth.users import User
from hitl.models import Page

router = APIRouter(prefix="/api/v1", tags=["identity"])


class Me(BaseModel):
    kind: Literal["user", "key", "system"]
    name: str
    display_name: str
    role: str | None
    groups: list[str]
    scopes: list[str]
    csrf_token: str | None = Field(
        None, description="A session's CSRF token, for X-CSRF-Token on state-changing calls."
    )


class UserCreate(BaseModel):
    username: str
    role: Literal["admin", "responder", "viewer"] = "responder"
    email: str | None = None
    display_name: str = ""
    password: str | None = Field(None, description="Omitted: one is generated and returned once.")
    groups: list[str] = Field(default_factory=list)


class UserCreated(User):
    password: str | None = Field(None, description="The generated password, shown this once.")


class UserUpdate(BaseModel):
    role: Literal["admin", "responder", "viewer"] | None = None
    email: str | None = None
    display_name: str | None = None
    disabled: bool | None = None
    groups: list[str] | None = Field(None, description="The full list of groups.")


class Preferences(BaseModel):
    email: bool | None = Field(None, description="Email me about requests (default: yes).")


class ApiKeyCreate(BaseModel):
    name: str
    scopes: list[str] = Field(description="Scopes, or ['*'] for all.")


@router.get("/me", response_model=Me)
async def me(principal: Authenticated) -> Me:
    return Me(
        kind=principal.kind,
        name=principal.name,
        display_name=principal.display_name,
        role=principal.role,
        groups=sorted(principal.groups),
        scopes=sorted(principal.scopes),
        csrf_token=principal.csrf_token,
    )


@router.patch("/me/preferences")
async def set_preferences(
    body: Preferences, principal: Person, service: ServiceDep
) -> dict[str, Any]:
    if principal.user_id is None:  # (a person always has one)
        raise errors.Forbidden("preferences belong to people: sign in to set yours")
    async with service.pool.connection() as conn:
        return await users.set_preferences(
            conn, principal.user_id, body.model_dump(exclude_none=True)
        )


@router.get("/users", response_model=list[User])
async def list_users(_: Admin, service: ServiceDep) -> list[User]:
    async with service.pool.connection() as conn:
        return await users.list_all(conn)


@router.post("/users", status_code=201, response_model=UserCreated)
async def create_user(body: UserCreate, principal: Admin, service: ServiceDep) -> UserCreated:
    password = body.password or users.generate_password()
    async with service.pool.connection() as conn, conn.transaction():
        await users.create(
            conn,
            body.username,
            role=body.role,
            password=password,
            email=body.email,
            display_name=body.display_name,
            actor=principal.name,
        )
        for group in body.groups:
            await users.add_to_group(conn, body.username, group, actor=principal.name)
        created = await users.get(conn, body.username)
    shown = None if body.password else password
    return UserCreated(**created.model_dump(), password=shown)


@router.patch("/users/{username}", response_model=User)
async def update_user(
    username: str, body: UserUpdate, principal: Admin, service: ServiceDep
) -> User:
    fields = body.model_fields_set
    async with service.pool.connection() as conn, conn.transaction():
        user = await users.get(conn, username)
        if fields & {"role", "email", "display_name"}:
            await users.update(
                conn,
                username,
                actor=principal.name,
                role=body.role,
                email=body.email,
                set_email="email" in fields,
                display_name=body.display_name,
            )
        if body.disabled is not None and body.disabled != (user.disabled_at is not None):
            if body.disabled and username == principal.name:
                raise errors.InvalidInput(
                    [
                        {
                            "loc": ["body", "disabled"],
                            "msg": "you cannot disable yourself",
                            "type": "value_error",
                        }
                    ]
                )
            await users.set_disabled(conn, username, body.disabled, actor=principal.name)
        if body.groups is not None:
            for group in set(user.groups) - set(body.groups):
                await users.remove_from_group(conn, username, group, actor=principal.name)
            for group in set(body.groups) - set(user.groups):
                await users.add_to_group(conn, username, group, actor=principal.name)
        return await users.get(conn, username)


@router.get("/apikeys", response_model=list[ApiKey])
async def list_keys(_: Admin, service: ServiceDep) -> list[ApiKey]:
    async with service.pool.connection() as conn:
        return await apikeys.list_all(conn)


@router.post("/apikeys", status_code=201, response_model=NewApiKey)
async def create_key(body: ApiKeyCreate, principal: Admin, service: ServiceDep) -> NewApiKey:
    """A new key. The answer's ``key`` is the only time it is shown: it is stored hashed."""
    async with service.pool.connection() as conn:
        return await apikeys.create(conn, body.name, body.scopes, actor=principal.name)


@router.delete("/apikeys/{prefix}", status_code=204)
async def revoke_key(prefix: str, principal: Admin, service: ServiceDep) -> Response:
    async with service.pool.connection() as conn:
        await apikeys.revoke(conn, prefix, actor=principal.name, cache=service.key_cache)
    return Response(status_code=204)


@router.get("/audit", response_model=Page[audit.AuditEntry])
async def audit_log(
    _: CanReadAudit,
    service: ServiceDep,
    actor: str | None = None,
    subject: str | None = Query(None, description="A request or thread id, user:<name>, ..."),
    request_id: str | None = Query(None, description="Entries about this request."),
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> Page[audit.AuditEntry]:
    """Who did what, newest first."""
    async with service.pool.connection() as conn:
        return await audit.list_page(
            conn,
            actor=actor,
            subject=subject or request_id,
            action=action,
            since=since,
            until=until,
            limit=limit,
            cursor=cursor,
        )
