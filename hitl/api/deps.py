"""Dependencies shared by the routes: the service, and who is calling with what permission.

They are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in a thread pool,
a thread hop per dependency per request for what is a dictionary lookup.

Every route of the app declares what it asks of its caller, its `Permission`, with exactly one
permission dependency, so the rule sits on the route object where anyone can read it
(`declared`; the authorization tests walk every route with it). An ``/api/v1`` route uses one
of the ``Annotated`` aliases below (``principal: CanAnswer``): an API key (``Authorization:
Bearer hitl_...``) or a browser session cookie, else 401; the permission missing, 403. A
session's state-changing calls also need its CSRF token in ``X-CSRF-Token``; API keys need
none (they are not sent by browsers on their own). Pages declare theirs with the same
`Permission` through `hitl.ui.permissions`, which answers a missing session with the login page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Final, TypeVar

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hitl import errors
from hitl.auth import SCOPES, Principal, apikeys, sessions
from hitl.service import Service

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"

PUBLIC: Final = "public"
SIGNED_IN: Final = "signed-in"
PERSON: Final = "person"
#: Routes whose caller proves itself with what it sends, not with a session or a key: a
#: one-click answer link's token (``token``), a Slack request's signature (``signature``).
#: The route checks it; a caller without it gets the route's own refusal.
TOKEN: Final = "token"
SIGNATURE: Final = "signature"
_DECLARED: Final = "permission"  # the attribute of a permission dependency that holds it


@dataclass(frozen=True)
class Permission:
    """What a route asks of its caller: nothing (``public``); to be known, by a session or an
    API key (``signed-in``); to be a person signed in with their own account (``person``: an
    account's own settings, which no key has); a ``token`` or a ``signature`` the route checks
    itself; or one scope of `hitl.auth.SCOPES`."""

    need: str

    def __post_init__(self) -> None:
        if self.need not in (PUBLIC, SIGNED_IN, PERSON, TOKEN, SIGNATURE, *SCOPES):
            raise ValueError(f"unknown permission {self.need!r}")

    def refusal(self, principal: Principal | None) -> errors.HITLError | None:
        """Why ``principal`` (None: nobody) may not pass; None when it may."""
        if self.need in (PUBLIC, TOKEN, SIGNATURE):
            return None
        if principal is None:
            return errors.Unauthenticated()
        if self.need == PERSON and principal.kind != "user":
            return errors.Forbidden("this belongs to people signed in with their own account")
        if self.need not in (SIGNED_IN, PERSON) and not principal.has(self.need):
            return errors.MissingScope(self.need)
        return None


Check = TypeVar("Check", bound=Callable[..., Awaitable[object]])


def declaring(permission: Permission, check: Check) -> Check:
    """``check``, a dependency that enforces ``permission``, marked as declaring it."""
    setattr(check, _DECLARED, permission)
    check.__name__ = f"require_{permission.need.replace(':', '_').replace('-', '_')}"
    return check


def declared(route: object) -> list[Permission]:
    """The permissions a route declares through its dependencies: one, on every route of the
    app. ``route`` is an `APIRoute`, or what FastAPI lists for one (with the dependencies of
    the routers that include it); anything else declares none."""
    dependant = getattr(route, "dependant", None)
    if not isinstance(dependant, Dependant):
        return []
    found = []
    pending = [dependant]
    while pending:
        for dependency in pending.pop().dependencies:
            permission = getattr(dependency.call, _DECLARED, None)
            if isinstance(permission, Permission):
                found.append(permission)
            pending.append(dependency)
    return found


async def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


async def identify(request: Request) -> Principal | None:
    """Who sent this request: the API key in ``Authorization: Bearer <key>`` (or in
    ``x-api-key``, where LangGraph's clients send it: the same key, the same scopes), else the
    session cookie; None for none. Resolved once per request."""
    if "principal" in request.scope:
        found: Principal | None = request.scope["principal"]
        return found
    service: Service = request.app.state.service
    principal = None
    if key := api_key(request):
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


def api_key(request: Request) -> str | None:
    """The API key the request carries: ``Authorization: Bearer <key>``, else ``x-api-key``."""
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        return credential.strip()
    return request.headers.get("x-api-key", "").strip() or None


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


def require(need: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller, who must meet `Permission` ``need``."""
    permission = Permission(need)

    async def check(
        request: Request,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None,
    ) -> Principal:
        principal = await _caller(request)
        if (refusal := permission.refusal(principal)) is not None:
            raise refusal
        return principal

    return declaring(permission, check)


def scope(name: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller, who must have scope ``name``."""
    if name not in SCOPES:
        raise ValueError(f"unknown scope {name!r}")
    return require(name)


async def _anyone() -> None:
    """Public routes let everybody in, and do not even look who it is."""


async def _token_holder() -> None:
    """The route checks the token in its path before anything else."""


async def _signed() -> None:
    """The route checks the request's signature before anything else."""


anyone = declaring(Permission(PUBLIC), _anyone)
Public = Annotated[None, Depends(anyone)]
TokenHolder = Annotated[None, Depends(declaring(Permission(TOKEN), _token_holder))]
SignedRequest = Annotated[None, Depends(declaring(Permission(SIGNATURE), _signed))]
Authenticated = Annotated[Principal, Depends(require(SIGNED_IN))]
Person = Annotated[Principal, Depends(require(PERSON))]
CanReadThreads = Annotated[Principal, Depends(scope("threads:read"))]
CanWriteThreads = Annotated[Principal, Depends(scope("threads:write"))]
CanReadRequests = Annotated[Principal, Depends(scope("requests:read"))]
CanWriteRequests = Annotated[Principal, Depends(scope("requests:write"))]
CanAnswer = Annotated[Principal, Depends(scope("requests:answer"))]
CanAdminWebhooks = Annotated[Principal, Depends(scope("webhooks:admin"))]
CanReadAudit = Annotated[Principal, Depends(scope("audit:read"))]
Admin = Annotated[Principal, Depends(scope("admin"))]
