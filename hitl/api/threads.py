"""``/api/v1/threads``: start threads, read them, list them, resume them."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from hitl import requests, threads
from hitl.api.bodies import (
    InterruptPublic,
    ThreadCreate,
    ThreadCreated,
    ThreadDetail,
    ThreadResume,
)
from hitl.api.deps import CanAnswer, CanReadThreads, CanWriteThreads, ServiceDep
from hitl.models import Page, Request, Thread, ThreadStatus, ThreadWithValues
from hitl.service import Service
from hitl.thread_watch import SETTLED

MAX_WAIT_SECONDS = 300
# Retry-After of a /wait refused because this process has HITL_MAX_WAITERS waits open.
BUSY_RETRY_SECONDS = 2

router = APIRouter(prefix="/api/v1/threads", tags=["threads"])


# ``?wait=`` on the calls that queue a run: answer with the thread once that run left it at
# rest, in one round trip instead of the call and a ``/wait``.
Wait = Annotated[
    float | None,
    Query(
        ge=0,
        le=MAX_WAIT_SECONDS,
        description="Seconds to wait for the thread to be interrupted, completed or failed; "
        "then the answer is the thread (200 at rest, 202 if it is still queued or running). "
        "When the process already has HITL_MAX_WAITERS waits open, the call does not wait: "
        "the answer is the thread as it is (the write is made either way).",
    ),
]
AT_REST: dict[int | str, dict[str, Any]] = {
    200: {"model": ThreadDetail, "description": "With `wait`: the thread at rest."}
}


@router.post("", status_code=202, response_model=ThreadCreated, responses=AT_REST)
async def create_thread(
    body: ThreadCreate, service: ServiceDep, principal: CanWriteThreads, wait: Wait = None
) -> Any:
    spec = service.registry.get(body.graph)
    thread_id = body.thread_id or str(uuid.uuid4())
    # listening before the run is queued: it may be quick
    watching = service.watch_thread(thread_id) if wait is not None else contextlib.nullcontext()
    with _waiting(service, wait) as wait:
        async with watching as watch:
            thread = await threads.create(
                service.pool,
                spec,
                body.input,
                thread_id=thread_id,
                metadata=body.metadata,
                actor=principal.name,
                actor_subject=principal.subject,
            )
            location = {"Location": f"/api/v1/threads/{thread.thread_id}"}
            if wait is not None and watch is not None:
                return _at_rest(await watch.settled(wait, created=thread), location)
    return JSONResponse(
        ThreadCreated(thread_id=thread.thread_id, status=thread.status).model_dump(),
        status_code=202,
        headers=location,
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


@router.get(
    "/{thread_id}/wait",
    response_model=ThreadDetail,
    responses={503: {"description": "Too many waits open in this process: see Retry-After."}},
)
async def wait_for_thread(
    service: ServiceDep,
    _: CanReadThreads,
    thread_id: str,
    timeout: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS)] = 30,
) -> Any:
    """The thread once it is interrupted, completed or failed (or as it is after ``timeout``).
    503 with ``Retry-After`` when this process already has ``HITL_MAX_WAITERS`` waits open
    (answering at once instead would have a polling client ask again at once)."""
    with service.waiting.take() as admitted:
        if admitted:
            return _detail(*await service.wait_for_thread(thread_id, timeout))
    return JSONResponse(
        {"detail": "too many waits are open in this process: retry after the Retry-After seconds"},
        status_code=503,
        headers={"Retry-After": str(BUSY_RETRY_SECONDS)},
    )


@router.post(
    "/{thread_id}/resume", status_code=202, response_model=list[Request], responses=AT_REST
)
async def resume_thread(
    service: ServiceDep, thread_id: str, body: ThreadResume, principal: CanAnswer, wait: Wait = None
) -> Any:
    """Answer interrupts of the thread, all or none; with ``wait``, answer with the thread
    once the resumed run left it at rest."""
    if wait is None:
        return await requests.respond_thread(service.pool, thread_id, body.resume, principal)
    with _waiting(service, wait) as wait:
        async with service.watch_thread(thread_id) as watch:
            await requests.respond_thread(service.pool, thread_id, body.resume, principal)
            return _at_rest(await watch.settled(wait or 0.0), {})


@contextlib.contextmanager
def _waiting(service: Service, wait: float | None) -> Iterator[float | None]:
    """``wait``, with a slot held for it while the block runs; 0 (the thread as it is) when
    the process has ``HITL_MAX_WAITERS`` waits open; None (no wait, no slot) stays None."""
    if wait is None:
        yield None
        return
    with service.waiting.take() as admitted:
        yield wait if admitted else 0.0


def _at_rest(found: tuple[ThreadWithValues, list[dict[str, Any]]], headers: dict[str, str]) -> Any:
    detail = _detail(*found)
    return JSONResponse(
        detail.model_dump(mode="json"),
        status_code=200 if detail.status in SETTLED else 202,
        headers=headers,
    )


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
