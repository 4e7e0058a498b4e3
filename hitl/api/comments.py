"""``/api/v1/requests/{id}/comments`` and ``/send-back``: the discussion on a request, and
sending it back with a note (`hitl.comments`)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from hitl import comments
from hitl.api.deps import CanAnswer, CanReadRequests, ServiceDep
from hitl.models import Request

router = APIRouter(prefix="/api/v1/requests", tags=["requests"])


class SentBack(BaseModel):
    request: Request
    comment: comments.Comment


@router.get("/{request_id}/comments", response_model=list[comments.Comment])
async def list_comments(
    service: ServiceDep, _: CanReadRequests, request_id: str
) -> list[comments.Comment]:
    """The request's comments, oldest first."""
    async with service.pool.connection() as conn:
        return await comments.of_request(conn, request_id)


@router.post("/{request_id}/comments", status_code=201, response_model=comments.Comment)
async def add_comment(
    service: ServiceDep, request_id: str, body: comments.CommentCreate, principal: CanAnswer
) -> comments.Comment:
    """Comment on a request (any state). ``@name`` mentions a user, who is notified through
    the notification channels that are set up."""
    async with service.pool.connection() as conn:
        return await comments.add(conn, request_id, body.body, principal)


@router.post("/{request_id}/send-back", response_model=SentBack)
async def send_back(
    service: ServiceDep, request_id: str, body: comments.SendBack, principal: CanAnswer
) -> SentBack:
    """Answer with the response schema's reject or request-changes choice and the note (in its
    comment field), and keep the note as a comment: one transaction. 422 naming ``note`` if the
    schema has no such choice; otherwise as ``/respond`` (403, 409, 422)."""
    request, comment = await comments.send_back(service.pool, request_id, body.note, principal)
    return SentBack(request=request, comment=comment)
