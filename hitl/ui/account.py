"""``/account``: a person's own settings: whether to get emails, and their password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hitl import errors
from hitl.auth import Principal, sessions, users
from hitl.ui.auth import page_principal, posted_form
from hitl.ui.routes import _service, forbidden, render_page

router = APIRouter(include_in_schema=False, prefix="/account")


async def _page(
    request: Request,
    principal: Principal,
    *,
    notice: str = "",
    problem: str = "",
    status: int = 200,
) -> HTMLResponse:
    async with _service(request).pool.connection() as conn:
        user = await users.get(conn, principal.name)
    return render_page(
        request, "account.html", status_code=status, user=user, notice=notice, problem=problem
    )


@router.get("", response_class=HTMLResponse)
async def account(
    request: Request, principal: Annotated[Principal, Depends(page_principal)]
) -> HTMLResponse:
    if principal.kind != "user":
        return forbidden(request, "Account settings belong to people: sign in to see yours.")
    return await _page(request, principal, notice=request.query_params.get("saved", "")[:80])


@router.post("/preferences")
async def preferences(request: Request) -> Response:
    principal, form = await posted_form(request)
    if principal.user_id is None:
        return forbidden(request, "Account settings belong to people.")
    wanted = (form.get("email") or ["off"])[0] == "on"
    async with _service(request).pool.connection() as conn:
        await users.set_preferences(conn, principal.user_id, {"email": wanted})
    return RedirectResponse("/account?saved=Preferences+saved.", status_code=303)


@router.post("/password", response_class=HTMLResponse)
async def password(request: Request) -> Response:
    principal, form = await posted_form(request)
    if principal.user_id is None:
        return forbidden(request, "Account settings belong to people.")
    current = (form.get("current") or [""])[0]
    new = (form.get("new") or [""])[0]
    token = request.cookies.get(sessions.COOKIE, "")
    async with _service(request).pool.connection() as conn:
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
