"""``POST /api/v1/requests``: an agent outside the service asks a person (``Idempotency-Key``
aware). The request then lives in the same inbox and is answered like any other. Its creator
(or an admin) may wait for the answer (``GET /{id}/wait``, a long poll: no webhook needed) and
withdraw it (``DELETE /{id}``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse
from psycopg import AsyncConnection

from hitl import errors, external, idempotency
from hitl.api.deps import CanWriteRequests, ServiceDep
from hitl.auth import Principal
from hitl.models import Request

router = APIRouter(prefix="/api/v1/requests", tags=["requests"])

MAX_WAIT_SECONDS = 300
# Retry-After of a /wait refused because this process has HITL_MAX_WAITERS waits open.
BUSY_RETRY_SECONDS = 2

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=idempotency.HEADER,
        description="Retry safely: the same key and body replay the first response (24 h).",
    ),
]


def replayable(outcome: idempotency.Outcome) -> JSONResponse:
    return JSONResponse(outcome.body, status_code=outcome.status_code, headers=outcome.headers)


@router.post("", status_code=201, response_model=Request)
async def create_request(
    body: external.ExternalRequestCreate,
    service: ServiceDep,
    principal: CanWriteRequests,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """201 with the request (``kind: external``). 422 if ``callback_webhook`` (optional:
    without it, wait for the answer with ``GET /{id}/wait``) is not an enabled endpoint the
    caller registered or an admin shared with it, ``response_schema`` is
    not a JSON Schema, ``routing`` or an escalation names a user or group that does not exist,
    or a default answer breaks the response schema."""

    async def operation(conn: AsyncConnection[Any]) -> idempotency.Outcome:
        request = await external.create(conn, body, service.deadline_defaults, principal)
        return idempotency.Outcome(
            201, request.model_dump(mode="json"), {"Location": f"/api/v1/requests/{request.id}"}
        )

    if idempotency_key is None:
        async with service.pool.connection() as conn:
            return replayable(await operation(conn))
    outcome = await idempotency.execute(
        service.pool,
        scope=f"{principal.subject} POST /api/v1/requests",
        key=idempotency_key,
        body=body.model_dump(mode="json"),
        operation=operation,
    )
    return replayable(outcome)


@router.get(
    "/{request_id}/wait",
    response_model=Request,
    responses={
        403: {"description": "Not the request's creator (nor an admin)."},
        503: {"description": "Too many waits open in this process: see Retry-After."},
    },
)
async def wait_for_request(
    service: ServiceDep,
    principal: CanWriteRequests,
    request_id: str,
    timeout: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS)] = 30,
) -> Any:
    """The request once it is answered (``responded``), ``expired`` or ``cancelled``, or as it
    is (``pending``) after ``timeout`` seconds: a long poll for its creator (or an admin).
    403 for anyone else; 503 with ``Retry-After`` when this process already has
    ``HITL_MAX_WAITERS`` waits open."""
    async with service.watch_request(request_id) as watch:
        request = await watch.read()
        _check_follows(principal, request)
        if request.state != "pending":
            return request
        with service.waiting.take() as admitted:
            if admitted:
                return await watch.settled(timeout)
    return JSONResponse(
        {"detail": "too many waits are open in this process: retry after the Retry-After seconds"},
        status_code=503,
        headers={"Retry-After": str(BUSY_RETRY_SECONDS)},
    )


@router.delete(
    "/{request_id}",
    response_model=Request,
    responses={403: {"description": "Not the request's creator (nor an admin)."}},
)
async def withdraw_request(
    service: ServiceDep, principal: CanWriteRequests, request_id: str
) -> Request:
    """The creator (or an admin) withdraws a pending external request: 200 with it
    ``cancelled``; its ``request.cancelled`` event and callback are sent, and a later answer
    gets 409. 409 too if it was answered, expired or withdrawn first (with its ``state``), or
    is a graph's interrupt (answer those); 403 for anyone but its creator and admins."""
    async with service.pool.connection() as conn:
        return await external.withdraw(conn, request_id, principal)


def _check_follows(principal: Principal, request: Request) -> None:
    if not external.may_follow(principal, request):
        raise errors.Forbidden(
            f"request {request.id!r} was created by another: only its creator and admins may "
            "wait on its answer"
        )
