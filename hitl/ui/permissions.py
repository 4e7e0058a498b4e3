"""What each page asks of whoever views it: what the API route serving the same data asks.

A page shows what an API route returns (the inbox and a request: ``requests:read``, as
``GET /api/v1/requests``), or does what one does (an answer form: ``requests:answer``, a
reassignment: ``requests:write``), so it declares the same `Permission`, with one of the
dependencies below, and an API key or a person gets the same answer at either door. Being
signed in is not enough: a key made for webhooks reads no requests, here as in the API.

What differs is only how a refusal looks: nobody signed in goes to the login page
(`LoginRequired`; a fragment or a stream answers 401); somebody without the permission gets the
"Not allowed" page (403), which names the scope. Rules about one request (only its assignees
may answer it) stay with the request, as in the API.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from hitl.api.deps import PERSON, SIGNED_IN, Permission, declaring, identify
from hitl.auth import Principal


class LoginRequired(Exception):
    """No session: pages redirect to the login page, fragments and streams answer 401."""


def page(need: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the viewer of a page, who must meet `Permission` ``need``."""
    permission = Permission(need)

    async def check(request: Request) -> Principal:
        principal = await identify(request)
        if principal is None:
            raise LoginRequired()
        if (refusal := permission.refusal(principal)) is not None:
            raise refusal  # a 403 (errors.Forbidden): the "Not allowed" page
        return principal

    return declaring(permission, check)


signed_in = page(SIGNED_IN)
SignedIn = Annotated[Principal, Depends(signed_in)]
Person = Annotated[Principal, Depends(page(PERSON))]
CanReadThreads = Annotated[Principal, Depends(page("threads:read"))]
CanReadRequests = Annotated[Principal, Depends(page("requests:read"))]
CanWriteRequests = Annotated[Principal, Depends(page("requests:write"))]
CanAnswer = Annotated[Principal, Depends(page("requests:answer"))]
CanAdminWebhooks = Annotated[Principal, Depends(page("webhooks:admin"))]
CanReadAudit = Annotated[Principal, Depends(page("audit:read"))]
Admin = Annotated[Principal, Depends(page("admin"))]
