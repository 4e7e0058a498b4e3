"""``/api/v1/requests``: the inbox of what waits for people, and their answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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
    claimed_by: Annotated[
        str | None,
        Query(
            pattern=assignment.USERNAME_PATTERN,
            description="A username: requests that user holds a live claim on.",
        ),
    ] = None,
    assignee: Annotated[
        str | None,
        Query(
            pattern=assignment.USERNAME_PATTERN,
            description="A username: requests assigned to that user by name.",
        ),
    ] = None,
    group_of: Annotated[
        str | None,
        Query(
            pattern=assignment.USERNAME_PATTERN,
            description="A username: requests assigned to one of that user's groups.",
        ),
    ] = None,
    due_within: Annotated[
        float | None,
        Query(
            gt=0,
            le=365 * 86400,
            description="Seconds: pending requests due within this time from now.",
        ),
    ] = None,
    sort: Annotated[
        requests.Sort,
        Query(
            description="newest (first), priority (highest first, then newest) or deadline "
            "(soonest first; requests without one are left out)."
        ),
    ] = "newest",
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
            claimed_by=claimed_by,
            assignee=assignee,
            group_of=group_of,
            due_before=datetime.now(UTC) + timedelta(seconds=due_within)
            if due_within is not None
            else None,
            sort=sort,
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


@router.post("/{request_id}/claim", response_model=Request)
async def claim(service: ServiceDep, request_id: str, principal: CanAnswer) -> Request:
    """Claim a pending request: until ``claim_expires_at`` (``HITL_CLAIM_TIMEOUT_SECONDS`` on;
    claiming again renews it) only the claimer and admins may answer it. 403 if the caller
    may not answer it, 409 if it is no longer pending or someone else holds a live claim (an
    admin takes it over)."""
    async with service.pool.connection() as conn:
        return await requests.claim(
            conn, request_id, principal, service.settings.claim_timeout_seconds
        )


@router.post("/{request_id}/unclaim", response_model=Request)
async def unclaim(service: ServiceDep, request_id: str, principal: CanAnswer) -> Request:
    """Release a claim: one's own, an expired one, or (admins) anyone's. 409 if someone else
    holds a live claim, or the request is no longer pending."""
    async with service.pool.connection() as conn:
        return await requests.unclaim(conn, request_id, principal)
