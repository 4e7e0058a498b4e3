"""Dependencies shared by the routes: the service, and who is calling with what scope.

They are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in a thread pool,
a thread hop per dependency per request for what is a dictionary lookup.

Every ``/api/v1`` route declares the scope it needs with one of the ``Annotated`` aliases
below (``principal: CanAnswer``): an API key (``Authorization: Bearer hitl_...``) or a browser
session cookie, else 401; the scope missing, 403. A session's state-changing calls also need
its CSRF token in ``X-CSRF-Token``; API keys need none (they are not sent by browsers on
their own).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hitl import errors
from hitl.auth import Principal, apikeys, sessions
from hitl.service import Service

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"


async def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


async def identify(request: Request) -> Principal | None:
    """Who sent this request: the API key in ``Authorization``, else the session cookie; None
    for neither. Resolved once per request."""
    if "principal" in request.scope:
        found: Principal | None = request.scope["principal"]
        return found
    service: Service = request.app.state.service
    principal = None
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credential:
        key = credential.strip()
        # the cache is trusted only while revocations can reach it
        cache = service.key_cache if service.notifier.connected.is_set() else None
        principal = cache.get(apikeys.digest(key)) if cache is not None else None
        if principal is None:
            async with service.pool.connection() as conn:
                principal = await apikeys.resolve(conn, key, cache)
        if principal is None:
            raise errors.Unauthenticated("the API key is unknown or revoked")
    elif token := session_token(request):
        settings = service.settings
        async with service.pool.connection() as conn:
            principal = await sessions.resolve(
                conn,
                token,
                ttl_seconds=settings.session_ttl_seconds,
                max_age_seconds=settings.session_max_age_seconds,
            )
    request.scope["principal"] = principal
    return principal


def session_token(request: Request) -> str | None:
    """The session cookie's token, under the name this request's scheme uses (see
    `hitl.auth.sessions`)."""
    service: Service = request.app.state.service
    secure = sessions.secure(service.settings, request.url.scheme)
    return request.cookies.get(sessions.cookie_name(secure))


# Declares the scheme in the OpenAPI document (the "Authorize" button at /docs); `identify`
# reads the header itself, as it also takes session cookies.
bearer = HTTPBearer(auto_error=False, bearerFormat="hitl_...", description="An API key.")


async def _caller(request: Request) -> Principal:
    principal = await identify(request)
    if principal is None:
        raise errors.Unauthenticated()
    if request.method not in SAFE_METHODS and not sessions.csrf_ok(
        principal, request.headers.get(CSRF_HEADER)
    ):
        raise errors.Forbidden(
            "a call made with a session cookie must send the session's CSRF token in the "
            "X-CSRF-Token header (or use an API key)"
        )
    return principal


async def authenticated(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None,
) -> Principal:
    return await _caller(request)


def scope(name: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller, who must have scope ``name``. (It calls `_caller` itself
    rather than depending on `authenticated`: a level of dependencies less on every call.)"""

    async def check(
        request: Request,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None,
    ) -> Principal:
        principal = await _caller(request)
        if not principal.has(name):
            raise errors.MissingScope(name)
        return principal

    check.__name__ = f"scope_{name.replace(':', '_')}"
    return check


Authenticated = Annotated[Principal, Depends(authenticated)]
CanReadThreads = Annotated[Principal, Depends(scope("threads:read"))]
CanWriteThreads = Annotated[Principal, Depends(scope("threads:write"))]
CanReadRequests = Annotated[Principal, Depends(scope("requests:read"))]
CanWriteRequests = Annotated[Principal, Depends(scope("requests:write"))]
CanAnswer = Annotated[Principal, Depends(scope("requests:answer"))]
CanAdminWebhooks = Annotated[Principal, Depends(scope("webhooks:admin"))]
CanReadAudit = Annotated[Principal, Depends(scope("audit:read"))]
Admin = Annotated[Principal, Depends(scope("admin"))]
