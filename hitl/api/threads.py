"""``/api/v1/threads``: start threads, read them, list them, resume them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from hitl import requests, threads
from hitl.api.deps import CanAnswer, CanReadThreads, CanWriteThreads, ServiceDep
from hitl.api.schemas import (
    InterruptPublic,
    ThreadCreate,
    ThreadCreated,
    ThreadDetail,
    ThreadResume,
)
from hitl.models import Page, Request, Thread, ThreadStatus, ThreadWithValues

router = APIRouter(prefix="/api/v1/threads", tags=["threads"])


@router.post("", status_code=202, response_model=ThreadCreated)
async def create_thread(body: ThreadCreate, service: ServiceDep, principal: CanWriteThreads) -> Any:
    spec = service.registry.get(body.graph)
    thread = await threads.create(
        service.pool,
        spec,
        body.input,
        thread_id=body.thread_id,
        metadata=body.metadata,
        actor=principal.name,
    )
    return JSONResponse(
        ThreadCreated(thread_id=thread.thread_id, status=thread.status).model_dump(),
        status_code=202,
        headers={"Location": f"/api/v1/threads/{thread.thread_id}"},
    )


@router.get("", response_model=Page[Thread])
async def list_threads(
    service: ServiceDep,
    _: CanReadThreads,
    status: ThreadStatus | None = None,
    graph: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> Page[Thread]:
    async with service.pool.connection() as conn:
        return await threads.list_page(conn, status=status, graph=graph, limit=limit, cursor=cursor)


@router.get("/{thread_id}", response_model=ThreadDetail)
async def get_thread(service: ServiceDep, _: CanReadThreads, thread_id: str) -> ThreadDetail:
    async with service.pool.connection() as conn:
        return _detail(*await threads.get_with_pending(conn, thread_id))


@router.get("/{thread_id}/wait", response_model=ThreadDetail)
async def wait_for_thread(
    service: ServiceDep,
    _: CanReadThreads,
    thread_id: str,
    timeout: Annotated[float, Query(ge=0, le=300)] = 30,
) -> ThreadDetail:
    """The thread once it is interrupted, completed or failed (or as it is after ``timeout``)."""
    return _detail(*await service.wait_for_thread(thread_id, timeout))


@router.post("/{thread_id}/resume", status_code=202, response_model=list[Request])
async def resume_thread(
    service: ServiceDep, thread_id: str, body: ThreadResume, principal: CanAnswer
) -> list[Request]:
    async with service.pool.connection() as conn:
        await threads.get(conn, thread_id)
    return await requests.respond_thread(service.pool, thread_id, body.resume, principal)


def _detail(thread: ThreadWithValues, pending: list[dict[str, Any]]) -> ThreadDetail:
    values = thread.values
    return ThreadDetail(
        **thread.model_dump(exclude={"values"}),
        values=values if isinstance(values, dict) or values is None else {"value": values},
        interrupts=[
            InterruptPublic(
                interrupt_id=r["interrupt_id"],
                request_id=str(r["id"]),
                value=r["value"],
                response_schema=r["response_schema"],
            )
            for r in pending
        ],
    )
