"""Admin pages: people (create, role, groups, disable), API keys (create, shown once; revoke)
and the audit log. Every change goes through the same functions as the REST API, and each page
asks what its API route asks: ``admin``, and ``audit:read`` for the audit log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hitl import audit, delegation, errors
from hitl.auth import ROLES, SCOPES, apikeys, users
from hitl.ui import delegation_form, pages
from hitl.ui.auth import first, posted_form, service_of
from hitl.ui.permissions import Admin, CanReadAudit

router = APIRouter(include_in_schema=False, prefix="/admin")


# -- people ---------------------------------------------------------------------------------------


async def _users_page(
    request: Request,
    *,
    problem: str = "",
    created: dict[str, Any] | None = None,
    status: int = 200,
    filled: dict[str, str] | None = None,
) -> HTMLResponse:
    async with service_of(request).pool.connection() as conn:
        people = await users.list_all(conn)
        delegations = await delegation.open_ones(conn)
    return pages.render_page(
        request,
        "admin_users.html",
        status_code=status,
        people=people,
        roles=ROLES,
        problem=problem,
        created=created,
        delegations=delegations,
        now=datetime.now(UTC),
        filled=filled or {},
    )


@router.get("/users", response_class=HTMLResponse)
async def users_page(request: Request, _: Admin) -> HTMLResponse:
    return await _users_page(request)


@router.post("/users", response_class=HTMLResponse)
async def create_user(request: Request, principal: Admin) -> Response:
    _, form = await posted_form(request)
    username = first(form, "username").strip()
    password = first(form, "password").strip() or users.generate_password()
    groups = [g for g in first(form, "groups").replace(",", " ").split() if g]
    try:
        async with service_of(request).pool.connection() as conn, conn.transaction():
            await users.create(
                conn,
                username,
                role=first(form, "role").strip() or "responder",
                password=password,
                email=first(form, "email").strip() or None,
                display_name=first(form, "display_name").strip(),
                actor=principal.name,
            )
            for group in groups:
                await users.add_to_group(conn, username, group, actor=principal.name)
    except (errors.InvalidInput, errors.Conflict) as exc:
        return await _users_page(
            request, problem=errors.describe(exc.detail), status=exc.status_code
        )
    shown = None if first(form, "password").strip() else password
    return await _users_page(request, created={"username": username, "password": shown})


@router.post("/users/{username}", response_class=HTMLResponse)
async def change_user(request: Request, username: str, principal: Admin) -> Response:
    """Role, groups, enabled: whichever the form sends."""
    _, form = await posted_form(request)
    try:
        async with service_of(request).pool.connection() as conn, conn.transaction():
            user = await users.get(conn, username)
            if role := first(form, "role").strip():
                if role != user.role:
                    await users.update(conn, username, role=role, actor=principal.name)
            if "groups" in form:
                wanted = {g for g in first(form, "groups").replace(",", " ").split() if g}
                for group in set(user.groups) - wanted:
                    await users.remove_from_group(conn, username, group, actor=principal.name)
                for group in wanted - set(user.groups):
                    await users.add_to_group(conn, username, group, actor=principal.name)
            if action := first(form, "action").strip():
                if action == "disable" and username == principal.name:
                    raise errors.Conflict("you cannot disable yourself")
                await users.set_disabled(conn, username, action == "disable", actor=principal.name)
    except (errors.InvalidInput, errors.Conflict, errors.NotFound) as exc:
        return await _users_page(
            request, problem=errors.describe(exc.detail), status=exc.status_code
        )
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/delegations", response_class=HTMLResponse)
async def delegate_for(request: Request, principal: Admin) -> Response:
    """Set a person's delegation for them (`hitl.delegation`: someone away who could not set
    it), or clear it (``action=clear``). The record says which admin did."""
    _, form = await posted_form(request)
    person = first(form, "person").strip()
    async with service_of(request).pool.connection() as conn:
        if first(form, "action") == "clear":
            await delegation.clear(conn, person, principal.name)
            return RedirectResponse("/admin/users#delegations", status_code=303)
        if problem := await delegation_form.save(conn, person, form, principal.name):
            sent = {k: first(form, k) for k in ("person", "delegate", "from", "until")}
            return await _users_page(
                request, problem=f"Delegation: {problem}.", status=422, filled=sent
            )
    return RedirectResponse("/admin/users#delegations", status_code=303)


# -- API keys -------------------------------------------------------------------------------------


async def _keys_page(
    request: Request, *, problem: str = "", created: str | None = None, status: int = 200
) -> HTMLResponse:
    async with service_of(request).pool.connection() as conn:
        keys = await apikeys.list_all(conn)
    return pages.render_page(
        request,
        "admin_keys.html",
        status_code=status,
        keys=keys,
        scopes=SCOPES,
        problem=problem,
        created=created,
    )


@router.get("/keys", response_class=HTMLResponse)
async def keys_page(request: Request, _: Admin) -> HTMLResponse:
    return await _keys_page(request)


@router.post("/keys", response_class=HTMLResponse)
async def create_key(request: Request, principal: Admin) -> Response:
    _, form = await posted_form(request)
    try:
        async with service_of(request).pool.connection() as conn:
            new = await apikeys.create(
                conn, first(form, "name").strip(), form.get("scopes", []), actor=principal.name
            )
    except errors.InvalidInput as exc:
        return await _keys_page(request, problem=errors.describe(exc.detail), status=422)
    return await _keys_page(request, created=new.key)


@router.post("/keys/{prefix}/revoke", response_class=HTMLResponse)
async def revoke_key(request: Request, prefix: str, principal: Admin) -> Response:
    await posted_form(request)
    service = service_of(request)
    try:
        async with service.pool.connection() as conn:
            await apikeys.revoke(conn, prefix, actor=principal.name, cache=service.key_cache)
    except errors.NotFound as exc:
        return await _keys_page(request, problem=errors.describe(exc.detail), status=404)
    return RedirectResponse("/admin/keys", status_code=303)


# -- audit log ------------------------------------------------------------------------------------


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    _: CanReadAudit,
    actor: str = "",
    subject: str = "",
    since: str = "",
    until: str = "",
    cursor: str | None = None,
) -> Response:
    try:
        bounds = [datetime.fromisoformat(v) if v else None for v in (since, until)]
    except ValueError:
        return RedirectResponse("/admin/audit?" + pages.query(actor=actor, subject=subject), 303)
    try:
        async with service_of(request).pool.connection() as conn:
            page = await audit.list_page(
                conn,
                actor=actor.strip() or None,
                subject=subject.strip() or None,
                since=bounds[0],
                until=bounds[1],
                limit=100,
                cursor=cursor,
            )
    except errors.InvalidInput:
        return RedirectResponse("/admin/audit", 303)
    filters = {"actor": actor, "subject": subject, "since": since, "until": until}
    next_url = (
        "/admin/audit?" + pages.query(**filters, cursor=page.next_cursor)
        if page.next_cursor
        else None
    )
    return pages.render_page(
        request,
        "admin_audit.html",
        page=page,
        next_url=next_url,
        actor=actor,
        subject=subject,
        since=since,
        until=until,
    )
