"""Signing in and out of the web UI, and the checks every page makes.

Every page needs a session (or an API key, for scripts); without one a page redirects to
``/login?next=...``. Every state-changing form carries the session's CSRF token in a hidden
``_csrf`` field, checked before anything changes. The login form itself is protected by a
double-submit token (a cookie and a field that must match), as there is no session yet.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any, overload
from urllib.parse import parse_qsl, quote, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hitl import errors
from hitl.api.deps import anyone, identify, session_token
from hitl.api.errors import API_PATHS, hitl_error
from hitl.auth import Principal, sessions, throttle, users
from hitl.service import Service
from hitl.ui import pages
from hitl.ui.permissions import LoginRequired, signed_in

router = APIRouter(include_in_schema=False)

LOGIN_CSRF_COOKIE = "hitl_login_csrf"
COOKIE_MAX_AGE = 30 * 86400  # the browser keeps it; the session's own expiry is server-side


async def page_principal(request: Request) -> Principal:
    """The signed-in person (or key) viewing a page; `LoginRequired` if nobody. (What they may
    see is the page's own `Permission`: `hitl.ui.permissions`.)"""
    principal = await identify(request)
    if principal is None:
        raise LoginRequired()
    return principal


def form_of(body: bytes, content_type: str) -> dict[str, list[str]]:
    """An url-encoded form body as ``{name: [values]}`` (the only kind our forms send)."""
    if "application/x-www-form-urlencoded" not in content_type:
        return {}
    out: dict[str, list[str]] = {}
    for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        out.setdefault(name, []).append(value.replace("\r\n", "\n"))
    return out


@overload
def first(form: dict[str, list[str]], name: str, default: str = "") -> str: ...


@overload
def first(form: dict[str, list[str]], name: str, default: None) -> str | None: ...


def first(form: dict[str, list[str]], name: str, default: str | None = "") -> str | None:
    """A form field's first value; ``default`` when the form has none."""
    values = form.get(name)
    return values[0] if values else default


def service_of(request: Request) -> Service:
    """The `Service` behind the app serving ``request``."""
    service: Service = request.app.state.service
    return service


async def posted_form(request: Request) -> tuple[Principal, dict[str, list[str]]]:
    """The principal and the form of a state-changing UI request, its CSRF token checked:
    `errors.Forbidden` if it is missing or wrong (and then nothing has changed)."""
    principal = await page_principal(request)
    form = form_of(await request.body(), request.headers.get("content-type", ""))
    sent = first(form, pages.CSRF_FIELD) or request.headers.get("x-csrf-token")
    if not sessions.csrf_ok(principal, sent):
        raise errors.Forbidden(
            "the form's security token is missing or out of date: reload the page and try again"
        )
    return principal, form


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (never another host)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return "/"
    return target


def _secure(request: Request) -> bool:
    return sessions.secure(service_of(request).settings, request.url.scheme)


def _client(request: Request) -> dict[str, Any]:
    return {
        "ip": request.client.host if request.client else None,
        "user_agent": request.headers.get("user-agent", "")[:200],
    }


def _login_page(
    request: Request, next_url: str, problem: str = "", username: str = "", status_code: int = 200
) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = pages.render_page(
        request,
        "login.html",
        status_code=status_code,
        principal=None,
        next_url=next_url,
        problem=problem,
        username=username,
        login_csrf=token,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/login",
    )
    return response


@router.get("/login", response_class=HTMLResponse, dependencies=[Depends(anyone)])
async def login_form(request: Request, next: str = "/") -> Response:
    if await identify(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, safe_next(next))


@router.post("/login", response_class=HTMLResponse, dependencies=[Depends(anyone)])
async def login(request: Request) -> Response:
    form = form_of(await request.body(), request.headers.get("content-type", ""))
    username = first(form, "username").strip()[:64]
    password = first(form, "password")
    next_url = safe_next(first(form, "next", "/"))
    sent = first(form, pages.CSRF_FIELD)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        return _login_page(
            request, next_url, "The form timed out: please sign in again.", username, 400
        )
    service = service_of(request)
    settings = service.settings
    client = _client(request)
    try:
        user = (
            await users.sign_in(
                service.pool,
                username,
                password,
                limits=throttle.Limits.of(settings),
                address=client["ip"],
                client=client,
            )
            if username
            else None
        )
    except errors.SignInThrottled as exc:
        minutes = max(1, round(exc.retry_after / 60))
        problem = (
            "Too many failed sign-ins for this account or from this address: "
            f"try again in {minutes} minute{'s' if minutes > 1 else ''}."
        )
        refused = _login_page(request, next_url, problem, username, 429)
        refused.headers["Retry-After"] = str(exc.retry_after)
        return refused
    if user is None:
        return _login_page(request, next_url, "Wrong username or password.", username, 401)
    async with service.pool.connection() as conn:
        token = await sessions.start(
            conn,
            user,
            ttl_seconds=settings.session_ttl_seconds,
            max_age_seconds=settings.session_max_age_seconds,
            client=client,
        )
    response = RedirectResponse(next_url, status_code=303)
    secure = _secure(request)
    response.set_cookie(
        sessions.cookie_name(secure),  # __Host-: Secure, Path=/ and no Domain, or refused
        token,
        # the server ends the session itself (unused, or past its maximum age)
        max_age=int(min(COOKIE_MAX_AGE, settings.session_max_age_seconds)),
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout", dependencies=[Depends(signed_in)])
async def logout(request: Request) -> Response:
    await posted_form(request)
    token = session_token(request)
    if token:
        async with service_of(request).pool.connection() as conn:
            await sessions.end(conn, token)
    response = RedirectResponse("/login", status_code=303)
    secure = _secure(request)
    response.delete_cookie(sessions.cookie_name(secure), path="/", secure=secure, httponly=True)
    return response


async def _login_required(request: Request, _exc: Exception) -> Response:
    if request.url.path.startswith("/ui/") or request.query_params.get("fragment"):
        return Response("sign in first", status_code=401, media_type="text/plain")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


async def _forbidden(request: Request, exc: Exception) -> Response:
    """403 as a page in the UI, as JSON in the APIs (``/api/v1``, the Agent Server's door
    ``/lg``, the MCP server ``/mcp``)."""
    assert isinstance(exc, errors.Forbidden)
    if request.url.path.startswith(API_PATHS):
        return await hitl_error(request, exc)
    return pages.forbidden(request, str(exc.detail))


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(errors.Forbidden, _forbidden)
