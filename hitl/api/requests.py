"""``/api/v1/requests``: the inbox of what waits for people, and their answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from psycopg import AsyncConnection

from hitl import assignment, idempotency, requests
from hitl.api.bodies import RequestRespond
from hitl.api.deps import CanAnswer, CanReadRequests, CanWriteRequests, ServiceDep
from hitl.api.external import IdempotencyKey, replayable
from hitl.models import Page, Request, RequestKind, RequestState

router = APIRouter(prefix="/api/v1/requests", tags=["requests"])


@router.get("", response_model=Page[Request])
async def list_requests(
    service: ServiceDep,
    _: CanReadRequests,
    state: RequestState | None = None,
    graph: str | None = None,
    thread_id: str | None = None,
    kind: RequestKind | None = None,
    assigned_to: Annotated[
        str | None,
        Query(
            pattern=assignment.USERNAME_PATTERN,
            description="A username: requests assigned to that user or to one of their groups.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> Page[Request]:
    async with service.pool.connection() as conn:
        return await requests.list_page(
            conn,
            state=state,
            graph=graph,
            thread_id=thread_id,
            kind=kind,
            assigned_to=assigned_to,
            limit=limit,
            cursor=cursor,
        )


@router.get("/{request_id}", response_model=Request)
async def get_request(service: ServiceDep, _: CanReadRequests, request_id: str) -> Request:
    async with service.pool.connection() as conn:
        return await requests.get(conn, request_id)


@router.post("/{request_id}/respond", response_model=Request)
async def respond(
    service: ServiceDep,
    request_id: str,
    body: RequestRespond,
    principal: CanAnswer,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Answer a pending request. 409 if it was already answered, 422 if the answer is invalid."""
    if idempotency_key is None:
        return await requests.respond(service.pool, request_id, body.response, principal)

    async def operation(conn: AsyncConnection[Any]) -> idempotency.Outcome:
        request = await requests.respond_on(conn, request_id, body.response, principal)
        return idempotency.Outcome(200, request.model_dump(mode="json"))

    outcome = await idempotency.execute(
        service.pool,
        scope=f"{principal.subject} POST /api/v1/requests/{request_id}/respond",
        key=idempotency_key,
        body=body.model_dump(mode="json"),
        operation=operation,
    )
    return replayable(outcome)


@router.post("/{request_id}/assign", response_model=Request)
async def assign(
    service: ServiceDep, request_id: str, body: assignment.Routing, principal: CanWriteRequests
) -> Request:
    """Assign a pending request to these users and groups, replacing its assignment (both
    empty: anyone). 409 if it is no longer pending, 422 naming an unknown user or group."""
    async with service.pool.connection() as conn:
        return await requests.reassign(conn, request_id, body, principal.name)
