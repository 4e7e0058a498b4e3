"""``POST /api/v1/requests``: an agent outside the service asks a person (``Idempotency-Key``
aware). The request then lives in the same inbox and is answered like any other."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from psycopg import AsyncConnection

from hitl import external, idempotency
from hitl.api.deps import CanWriteRequests, ServiceDep
from hitl.models import Request

router = APIRouter(prefix="/api/v1/requests", tags=["requests"])

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
    """201 with the request (``kind: external``). 422 if ``callback_webhook`` is not a
    registered, enabled endpoint, ``response_schema`` is not a JSON Schema, ``routing`` or an
    escalation names a user or group that does not exist, or a default answer breaks the
    response schema."""

    async def operation(conn: AsyncConnection[Any]) -> idempotency.Outcome:
        request = await external.create(conn, body, service.deadline_defaults, principal.name)
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
