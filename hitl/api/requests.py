"""``/api/v1/requests``: the inbox of what waits for people, and their answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hitl import requests
from hitl.api.deps import ActorDep, ServiceDep
from hitl.api.schemas import RequestRespond
from hitl.models import Page, Request, RequestState

router = APIRouter(prefix="/api/v1/requests", tags=["requests"])


@router.get("", response_model=Page[Request])
async def list_requests(
    service: ServiceDep,
    state: RequestState | None = None,
    graph: str | None = None,
    thread_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> Page[Request]:
    async with service.pool.connection() as conn:
        return await requests.list_page(
            conn, state=state, graph=graph, thread_id=thread_id, limit=limit, cursor=cursor
        )


@router.get("/{request_id}", response_model=Request)
async def get_request(service: ServiceDep, request_id: str) -> Request:
    async with service.pool.connection() as conn:
        return await requests.get(conn, request_id)


@router.post("/{request_id}/respond", response_model=Request)
async def respond(
    service: ServiceDep, request_id: str, body: RequestRespond, actor: ActorDep
) -> Request:
    """Answer a pending request. 409 if it was already answered, 422 if the answer is invalid."""
    return await requests.respond(service.pool, request_id, body.response, actor)
