"""``GET /api/v1/requests/{id}/votes``: a quorum request's votes (`hitl.quorum`)."""

from __future__ import annotations

from fastapi import APIRouter

from hitl import quorum, requests
from hitl.api.deps import CanReadRequests, ServiceDep

router = APIRouter(prefix="/api/v1/requests", tags=["requests"])


@router.get("/{request_id}/votes", response_model=list[quorum.Vote])
async def list_votes(service: ServiceDep, _: CanReadRequests, request_id: str) -> list[quorum.Vote]:
    """The votes so far, oldest first (none for a request one answer decides). Vote with
    ``POST /api/v1/requests/{id}/respond``, as for any answer."""
    async with service.pool.connection() as conn:
        request = await requests.get(conn, request_id)
        return await requests.votes_of(conn, request.id)
