"""``/account``: a person's own settings: whether to get emails, their password, and the Slack
user who answers for them (`hitl.notifications.slack_links`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hitl import delegation, errors
from hitl.api.deps import session_token
from hitl.auth import Principal, sessions, users
from hitl.notifications import slack_links
from hitl.ui import delegation_form, pages
from hitl.ui.auth import first, posted_form, service_of
from hitl.ui.permissions import Person

router = APIRouter(include_in_schema=False, prefix="/account")


async def _page(
    request: Request,
    principal: Principal,
    *,
    notice: str = "",
    problem: str = "",
    status: int = 200,
) -> HTMLResponse:
    async with service_of(request).pool.connection() as conn:
        user = await users.get(conn, principal.name)
        slack_user = await slack_links.linked(conn, user.id)
        delegated = await delegation.get(conn, principal.name)
        acting_for = await delegation.acting_for(conn, principal.name)
    return pages.render_page(
        request,
        "account.html",
        status_code=status,
        user=user,
        slack_user=slack_user,
        notice=notice,
        problem=problem,
        delegated=delegated,
        acting_for=acting_for,
    )


@router.get("", response_class=HTMLResponse)
async def account(request: Request, principal: Person) -> HTMLResponse:
    return await _page(request, principal, notice=request.query_params.get("saved", "")[:80])


@router.post("/preferences")
async def preferences(request: Request, principal: Person) -> Response:
    _, form = await posted_form(request)
    if principal.user_id is None:  # (a person always has one)
        return pages.forbidden(request, "Account settings belong to people.")
    wanted = first(form, "email", "off") == "on"
    async with service_of(request).pool.connection() as conn:
        await users.set_preferences(conn, principal.user_id, {"email": wanted})
    return RedirectResponse("/account?saved=Preferences+saved.", status_code=303)


@router.post("/delegation", response_class=HTMLResponse)
async def delegate(request: Request, principal: Person) -> Response:
    """Set or clear one's delegation (`hitl.delegation`): ``action=clear`` clears it."""
    _, form = await posted_form(request)
    async with service_of(request).pool.connection() as conn:
        if first(form, "action") == "clear":
            await delegation.clear(conn, principal.name, principal.name)
            return RedirectResponse("/account?saved=Delegation+cleared.", status_code=303)
        if problem := await delegation_form.save(conn, principal.name, form, principal.name):
            return await _page(request, principal, problem=f"Delegation: {problem}.", status=422)
    return RedirectResponse("/account?saved=Delegation+saved.", status_code=303)


@router.post("/password", response_class=HTMLResponse)
async def password(request: Request, principal: Person) -> Response:
    _, form = await posted_form(request)
    if principal.user_id is None:  # (a person always has one)
        return pages.forbidden(request, "Account settings belong to people.")
    current = first(form, "current")
    new = first(form, "new")
    token = session_token(request) or ""
    async with service_of(request).pool.connection() as conn:
        if await users.authenticate(conn, principal.name, current) is None:
            return await _page(
                request, principal, problem="The current password is wrong.", status=422
            )
        try:
            await users.set_password(
                conn, principal.name, new, actor=principal.name, keep_session=sessions.digest(token)
            )
        except errors.InvalidInput as exc:
            return await _page(
                request, principal, problem=f"New password: {exc.detail[0]['msg']}.", status=422
            )
    return RedirectResponse("/account?saved=Password+changed.", status_code=303)


@router.get("/slack", response_class=HTMLResponse)
async def slack_link_page(request: Request, principal: Person, link: str = "") -> HTMLResponse:
    """Confirm linking the Slack user a link from Slack names (nothing changes until then)."""
    async with service_of(request).pool.connection() as conn:
        try:
            slack_user = await slack_links.peek(conn, link)
        except slack_links.LinkInvalid as exc:
            return await _page(request, principal, problem=str(exc.detail), status=404)
    return pages.render_page(request, "slack_link.html", slack_user=slack_user, link=link)


@router.post("/slack/link")
async def slack_link(request: Request, principal: Person) -> Response:
    _, form = await posted_form(request)
    if principal.user_id is None:  # (a person always has one)
        return pages.forbidden(request, "Account settings belong to people.")
    async with service_of(request).pool.connection() as conn:
        try:
            await slack_links.link(conn, first(form, "link"), principal.user_id, principal.name)
        except slack_links.LinkInvalid as exc:
            return await _page(request, principal, problem=str(exc.detail), status=404)
    return RedirectResponse("/account?saved=Slack+user+linked.", status_code=303)


@router.post("/slack/unlink")
async def slack_unlink(request: Request, principal: Person) -> Response:
    await posted_form(request)
    if principal.user_id is None:  # (a person always has one)
        return pages.forbidden(request, "Account settings belong to people.")
    async with service_of(request).pool.connection() as conn:
        await slack_links.unlink(conn, principal.user_id, principal.name)
    return RedirectResponse("/account?saved=Slack+user+unlinked.", status_code=303)
