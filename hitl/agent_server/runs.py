"""Runs at the Agent Server door: ``/threads/{id}/runs`` (create, wait, join, list, get, cancel),
stateless ``/runs`` and ``/runs/wait``, and ``update_state`` (``POST /threads/{id}/state``).

A run is one of ours (`hitl.runs`), executed by the same runner wherever it runs:

- ``input`` (or a command's ``update``/``goto``) on a thread at rest starts its next turn from
  the latest checkpoint (a run of kind ``input``). With a run already active,
  ``multitask_strategy`` ``reject`` refuses (409), ``enqueue`` waits behind it, ``interrupt``
  and ``rollback`` cancel it first.
- ``command.resume`` is an answer, and goes through the inbox's answer path
  (`hitl.requests.respond_thread`): validated against each interrupt's response schema, first
  answer wins, recorded as the caller's, deadlines stopped, events and webhooks sent. The run
  is the one that applies the answers.
- ``update_state`` is a run of kind ``update``: the runner applies it and records the thread as
  after any run, so requests whose interrupt it removed are superseded.

A run's ``webhook`` must be the URL of a webhook endpoint the caller registered (or an admin
shared with it), as a callback must (hitl/external.py): its secret signs what the outbox
delivers when the run ends and when it stops at an interrupt.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response, StreamingResponse
from langchain_core.runnables import RunnableConfig
from pydantic import TypeAdapter, ValidationError

from hitl import errors, requests, runs, threads
from hitl._aio import wait_event
from hitl.agent_server import mapping, wire
from hitl.agent_server.run_bodies import RunCreate, StateUpdate
from hitl.api.bodies import ThreadId
from hitl.api.deps import CanReadThreads, CanWriteThreads, ServiceDep
from hitl.auth import Principal
from hitl.db.sql import threads as threads_sql
from hitl.models import Run, ThreadWithValues
from hitl.registry import GraphSpec
from hitl.service import Service
from hitl.thread_watch import Found, ThreadWatch
from hitl.webhooks import endpoints

router = APIRouter(tags=["agent server: runs"])

# While a waiting call has nothing to say, a newline every this many seconds keeps proxies from
# closing it (JSON readers skip leading whitespace), as the Agent Server does.
KEEPALIVE_SECONDS = 5.0
BUSY_RETRY_SECONDS = 2
# The longest a waiting call sleeps without reading the run again (a lost notification).
RECHECK_SECONDS = 1.0


@router.post("/threads/{thread_id}/runs")
async def create_run(
    service: ServiceDep, principal: CanWriteThreads, thread_id: str, body: RunCreate
) -> JSONResponse:
    # streamed, to be joined (``join_stream``), in any of the modes a joiner may ask for
    run = await start(service, principal, thread_id, body, streamed=True, background=True)
    return JSONResponse(wire.run(run, body.assistant_id), headers=_locations(run))


@router.post("/threads/{thread_id}/runs/wait")
async def wait_run(
    service: ServiceDep, principal: CanWriteThreads, thread_id: str, body: RunCreate
) -> Response:
    """Create a run and answer with the thread's values once it ended: with ``__interrupt__``
    when it stopped at interrupts, ``__error__`` when it failed."""
    return await _result(service, thread_id, lambda: start(service, principal, thread_id, body))


@router.post("/runs")
async def create_stateless_run(
    service: ServiceDep, principal: CanWriteThreads, body: RunCreate
) -> JSONResponse:
    """A run on a new thread (which stays, so that its interrupts can be answered)."""
    body.if_not_exists = "create"
    run = await start(service, principal, str(uuid.uuid4()), body, streamed=True, background=True)
    return JSONResponse(wire.run(run, body.assistant_id), headers=_locations(run))


@router.post("/runs/wait")
async def wait_stateless_run(
    service: ServiceDep, principal: CanWriteThreads, body: RunCreate
) -> Response:
    body.if_not_exists = "create"
    thread_id = str(uuid.uuid4())
    return await _result(service, thread_id, lambda: start(service, principal, thread_id, body))


@router.get("/threads/{thread_id}/runs")
async def list_runs(
    service: ServiceDep,
    _: CanReadThreads,
    thread_id: str,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    status: wire.RunStatus | None = None,
) -> list[dict[str, Any]]:
    async with service.pool.connection() as conn:
        await threads.get(conn, thread_id)  # 404 for an unknown thread
        found = await runs.of_thread(
            conn, thread_id, statuses=wire.our_run_statuses(status), limit=limit, offset=offset
        )
    return [wire.run(r) for r in found]


@router.get("/threads/{thread_id}/runs/{run_id}")
async def get_run(
    service: ServiceDep, _: CanReadThreads, thread_id: str, run_id: str
) -> dict[str, Any]:
    async with service.pool.connection() as conn:
        return wire.run(await runs.find(conn, thread_id, run_id))


@router.get("/threads/{thread_id}/runs/{run_id}/join")
async def join_run(service: ServiceDep, _: CanReadThreads, thread_id: str, run_id: str) -> Response:
    """The thread's values once the run ended (as ``/runs/wait`` answers)."""

    async def found() -> Run:
        async with service.pool.connection() as conn:
            return await runs.find(conn, thread_id, run_id)

    return await _result(service, thread_id, found)


@router.post("/threads/{thread_id}/runs/{run_id}/cancel")
async def cancel_run(
    service: ServiceDep,
    principal: CanWriteThreads,
    thread_id: str,
    run_id: str,
    wait: bool = False,
    action: wire.CancelAction = "interrupt",
) -> Any:
    """Cancel a run: one not started at once, a running one by its worker (which records what
    the graph did so far, or with ``rollback`` deletes the checkpoints it wrote, and the run)."""
    async with service.pool.connection() as conn:
        run = await runs.cancel(conn, thread_id, run_id, action)
    done = await ended(service, run) if wait else None
    return JSONResponse(wire.run(done or run), status_code=200 if wait else 202)


@router.delete("/threads/{thread_id}/runs/{run_id}", status_code=204)
async def delete_run(
    service: ServiceDep, principal: CanWriteThreads, thread_id: str, run_id: str
) -> None:
    async with service.pool.connection() as conn:
        await runs.delete(conn, thread_id, run_id)


@router.post("/threads/{thread_id}/state")
async def update_state(
    service: ServiceDep, principal: CanWriteThreads, thread_id: str, body: StateUpdate
) -> dict[str, Any]:
    """Write values into the thread's state as ``as_node`` (LangGraph's ``update_state``), as a
    run of its own: refused (409) while another run is queued or running; recorded in the audit
    log with who asked; the thread's requests reconciled by the run's record."""
    if body.checkpoint is not None:
        body.checkpoint_id = body.checkpoint_id or body.checkpoint.get("checkpoint_id")
    async with service.pool.connection() as conn:
        thread = await threads.get(conn, thread_id)
    if thread.graph is None:
        raise errors.Conflict(
            f"thread {thread_id!r} has not run yet: its state has no graph to update"
        )
    run = await runs.queue(
        service.pool,
        thread_id,
        thread.graph,
        "update",
        body.model_dump(exclude={"checkpoint"}),
        {},
        strategy="reject",
        actor=principal.name,
    )
    done = await ended(service, run)
    if done is None or done.status != "done":
        error = (done.error or {}) if done else {}
        raise errors.InvalidInput(
            [
                {
                    "loc": ["body", "values"],
                    "msg": error.get("message") or "the update did not finish in time",
                    "type": "value_error",
                }
            ]
        )
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    async with service.graphs.for_run(thread.graph, config) as graph:
        if graph is None:
            raise errors.GraphNotFound(thread.graph)
        state = await graph.aget_state(config)
    return {"checkpoint": mapping.checkpoint(state.config)}


# -- starting a run -----------------------------------------------------------------------------


async def start(
    service: Service,
    principal: Principal,
    thread_id: str,
    body: RunCreate,
    *,
    streamed: bool = False,
    background: bool = False,
) -> Run:
    """Check everything, then queue the run (or answer the interrupts): nothing is written for
    a call that is refused."""
    if problems := body.unsupported():
        raise errors.InvalidInput(problems)
    spec = mapping.graph_of(service.registry, body.assistant_id)
    resume = body.command is not None and "resume" in body.command.model_fields_set
    if resume and body.command is not None and (body.command.update or body.command.goto):
        raise errors.InvalidInput(
            [
                {
                    "loc": ["body", "command"],
                    "msg": "resume cannot be combined with update or goto here: send them as "
                    "two runs",
                    "type": "value_error",
                }
            ]
        )
    if resume and body.input is not None:
        raise errors.InvalidInput(
            [
                {
                    "loc": ["body", "input"],
                    "msg": "send input or command, not both",
                    "type": "value_error",
                }
            ]
        )
    options = body.options()
    if streamed:  # its chunks go to its stream (hitl.run_streams), for any reader to join
        options["stream"] = body.stream(background)
    if body.webhook is not None:
        async with service.pool.connection() as conn:
            options["webhook_endpoint_id"] = await _webhook_endpoint(conn, body.webhook, principal)
    # Whether the thread exists is read here only when it is to be created: otherwise the
    # resume's read of the thread and the queue's read of it answer 404 for an unknown one (and
    # a refused input reads it first, so that an unknown thread is a 404 all the same).
    if body.if_not_exists == "create" and not await _exists(service, thread_id):
        _check_new_thread_id(thread_id)
        # (taken meanwhile by another caller: the run goes to that thread, as asked)
        await threads.create_empty(
            service.pool,
            thread_id,
            graph=spec.name,
            actor=principal.name,
            actor_subject=principal.subject,
        )
    if resume:
        assert body.command is not None
        return await _resume(service, principal, thread_id, body.command.resume, options)
    graph_input = body.input
    if graph_input is not None and "command" not in options:
        try:
            graph_input = _validated(spec, graph_input)
        except errors.InvalidInput:
            if not await _exists(service, thread_id):
                raise errors.ThreadNotFound(thread_id) from None
            raise
    strategy = body.multitask_strategy
    if strategy in ("interrupt", "rollback"):
        await _cancel_active(service, thread_id, strategy)
        strategy = "enqueue"
    return await runs.queue(
        service.pool,
        thread_id,
        spec.name,
        "input",
        graph_input,
        options,
        strategy=strategy,  # type: ignore[arg-type]
        actor=principal.name,
    )


async def _resume(
    service: Service, principal: Principal, thread_id: str, value: Any, options: dict[str, Any]
) -> Run:
    """Answer the thread's pending interrupts with ``command.resume``: a map by interrupt id
    answers those; a bare value answers the one pending interrupt."""
    async with service.pool.connection() as conn:
        pending = await requests.pending_of_thread(conn, thread_id)
        if not pending:
            await threads.get(conn, thread_id)  # 404 for an unknown thread
    if not principal.has("requests:answer"):
        raise errors.MissingScope("requests:answer")
    ids = [str(p.interrupt_id) for p in pending]
    if isinstance(value, dict) and value and set(value) <= set(ids):
        answers = value
    elif len(ids) == 1:
        answers = {ids[0]: value}
    elif not ids:
        raise errors.Conflict(f"thread {thread_id!r} has no pending interrupt to resume")
    else:
        raise errors.InvalidInput(
            [
                {
                    "loc": ["body", "command", "resume"],
                    "msg": f"thread {thread_id!r} has {len(ids)} pending interrupts: resume "
                    f"with a map from interrupt id to value ({', '.join(ids)})",
                    "type": "value_error",
                    "ctx": {"interrupt_ids": ids},
                }
            ]
        )
    # what the run that applies the answers is given (the rest is the resume's own)
    given = {k: v for k, v in options.items() if k not in ("assistant_id", "multitask_strategy")}
    try:
        row = await requests.respond_thread_run(
            service.pool, thread_id, answers, principal, given, pending
        )
    except errors.InvalidInput as exc:
        raise errors.InvalidInput(_at_resume(exc.detail, bare=value is not answers)) from None
    return runs.ClaimedRun.model_validate(row)


def _at_resume(problems: Any, *, bare: bool) -> Any:
    """The answer path's problems, located in ``command.resume`` (and its interrupt id when
    the caller gave a map)."""
    if not isinstance(problems, list):
        return problems
    found = []
    for problem in problems:
        loc = list(problem.get("loc", ()))
        # ("body", "resume", interrupt_id, *field) -> ("body", "command", "resume", [id], *field)
        rest = loc[3:] if bare else loc[2:]
        found.append({**problem, "loc": ["body", "command", "resume", *rest]})
    return found


async def _cancel_active(service: Service, thread_id: str, action: str) -> None:
    """multitask_strategy ``interrupt``/``rollback``: cancel the thread's active run first."""
    async with service.pool.connection() as conn:
        active = await runs.active(conn, thread_id)
        if active is None:
            return
        if active.kind == "resume":
            raise errors.Conflict(
                f"thread {thread_id!r} is applying answers to its interrupts, which cannot be "
                f"cancelled: use multitask_strategy 'enqueue' or 'reject'"
            )
        await runs.cancel(conn, thread_id, str(active.public_id), action)


_THREAD_ID: TypeAdapter[str] = TypeAdapter(ThreadId)


def _check_new_thread_id(thread_id: str) -> None:
    """A thread created by a run's ``if_not_exists`` takes the ids ``POST /threads`` takes."""
    try:
        _THREAD_ID.validate_python(thread_id)
    except ValidationError as exc:
        raise errors.InvalidInput(
            [
                {"loc": ["path", "thread_id"], "msg": e["msg"], "type": e["type"]}
                for e in exc.errors()
            ]
        ) from None


async def _exists(service: Service, thread_id: str) -> bool:
    async with service.pool.connection() as conn:
        found = await (await conn.execute(threads_sql.GET_THREAD, (thread_id,))).fetchone()
    return found is not None


def _validated(spec: GraphSpec, value: Any) -> Any:
    try:
        return threads.validated_input(spec, value)
    except errors.InvalidInput as exc:
        problems = exc.detail if isinstance(exc.detail, list) else []
        raise errors.InvalidInput(
            [{**p, "loc": ["body", "input", *list(p.get("loc", ()))[1:]]} for p in problems]
            or exc.detail
        ) from None


async def _webhook_endpoint(conn: Any, url: str, principal: Principal) -> str:
    found = await endpoints.callback_endpoint(conn, url, principal)
    if found is None:
        raise errors.InvalidInput(
            [
                {
                    "loc": ["body", "webhook"],
                    "msg": "not the URL of an enabled webhook endpoint you registered (POST "
                    "/api/v1/webhooks) or one shared with you: its secret signs the run's "
                    "webhooks",
                    "type": "value_error",
                }
            ]
        )
    return found


# -- waiting for a run ------------------------------------------------------------------------


async def ended(service: Service, run: Run, timeout: float | None = None) -> Run | None:
    """The run once it ended (None if it was rolled back and deleted), or as it is after
    ``timeout`` seconds."""
    async with service.watch_thread(run.thread_id) as watch:
        ended, _ = await _watch(service, watch, run, timeout, handoff=False)
    return ended


async def _watch(
    service: Service,
    watch: ThreadWatch,
    run: Run,
    timeout: float | None = None,
    *,
    handoff: bool = True,
) -> tuple[Run | None, Found | None]:
    """`_ended`; with ``handoff``, also the thread and its pending requests as the run left
    them when this process's runner recorded it and handed them over
    (`hitl.thread_watch.Waiters`): then neither the run nor the thread is read again. None
    for them when the run was read. (Not for a cancel: a run rolled back is deleted after its
    record, and the cancel answers once it is gone.)"""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    found: Run | None = None
    while True:
        watch.changed.clear()
        if handoff and (handed := _handed(watch, run)) is not None:
            return handed
        left = RECHECK_SECONDS if deadline is None else min(deadline - loop.time(), 1.0)
        if handoff and found is not None and left > 0 and _recording(watch):
            # a record of the thread is being written here: its handoff comes next
            await wait_event(watch.changed, min(left, 0.5))
            continue
        async with service.pool.connection() as conn:
            try:
                found = await runs.find(conn, run.thread_id, str(run.public_id))
            except runs.RunNotFound:
                return None, None
        if found.status in wire.ENDED and not (found.status == "cancelled" and rolled_back(found)):
            return found, None
        left = RECHECK_SECONDS if deadline is None else min(deadline - loop.time(), 1.0)
        if left <= 0:
            return found, None
        await wait_event(watch.changed, left)


def rolled_back(run: Run) -> bool:
    """A run cancelled with ``rollback``: ended once it is deleted, a moment after its record
    (with its checkpoints: see `hitl.runner.Runner._roll_back`)."""
    return run.cancel == "rollback"


def _handed(watch: ThreadWatch, run: Run) -> tuple[Run, Found] | None:
    """The run as this process's runner recorded it, with the thread, if it did."""
    for detail in watch.recorded:
        ended = detail.get("run") or {}
        if ended.get("public_id") == str(run.public_id):
            done = run.model_copy(update={"status": ended["status"], "error": ended["error"]})
            return done, (ThreadWithValues.model_validate(detail), detail["pending"])
    return None


def _recording(watch: ThreadWatch) -> bool:
    return watch.waiters is not None and watch.thread_id in watch.waiters.recording


async def _result(
    service: Service, thread_id: str, started: Callable[[], Awaitable[Run]]
) -> Response:
    """The result of the run ``started`` queues (or finds) as the Agent Server's ``/wait`` and
    ``/join`` answer it, streamed: a newline every few seconds until the run ended, then the
    JSON. The thread is watched before the run is queued, as ``POST /api/v1/threads?wait=``
    does: a quick run's record, handed over by this process's runner, is then not missed (nor
    read again). 503 with ``Retry-After`` when this process already holds ``HITL_MAX_WAITERS``
    waits (the run is queued all the same; its ``Location`` says where to fetch the result)."""
    stack = contextlib.AsyncExitStack()
    admitted = stack.enter_context(service.waiting.take())
    try:
        watch = await stack.enter_async_context(service.watch_thread(thread_id))
        run = await started()
    except BaseException:
        await stack.aclose()
        raise
    if not admitted:
        await stack.aclose()
        return JSONResponse(
            {
                "detail": "too many waits are open in this process: retry after the Retry-After "
                "seconds at the Location"
            },
            status_code=503,
            headers={"Retry-After": str(BUSY_RETRY_SECONDS), **_locations(run)},
        )

    task = asyncio.ensure_future(_watch(service, watch, run))
    try:
        # most runs end (or stop at an interrupt) within the first keep-alive: one plain answer
        await asyncio.wait({task}, timeout=KEEPALIVE_SECONDS)
    except BaseException:
        task.cancel()
        await stack.aclose()
        raise
    if task.done():
        await stack.aclose()
        result = await _outcome(service, run, task)
        return Response(result, media_type="application/json", headers=_locations(run))

    async def body() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"\n"
                done, _ = await asyncio.wait({task}, timeout=KEEPALIVE_SECONDS)
                if done:
                    break
        finally:
            task.cancel()
        yield await _outcome(service, run, task)

    return Holding(stack, body(), media_type="application/json", headers=_locations(run))


async def _outcome(service: Service, run: Run, task: asyncio.Future[Any]) -> bytes:
    """The body of a ``/wait`` or ``/join`` once ``task`` (`_watch`) is done."""
    ended, found = task.result()
    if found is None:
        async with service.pool.connection() as conn:
            found = await threads.get_with_pending(conn, run.thread_id)
    return wire.result(ended, *found)


class Holding(StreamingResponse):
    """A streamed answer that releases what its body holds (a wait slot, a thread watch) once
    the response is over, however it ends: sent, cut off, or never started."""

    def __init__(self, stack: contextlib.AsyncExitStack, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stack = stack

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.stack.aclose()


def _locations(run: Run) -> dict[str, str]:
    """Where the run's result can be fetched again (the client reconnects there if cut off),
    and where the run is (the client reads the run id from it)."""
    # relative to the door's root, as the Agent Server's: the client resolves them there
    base = f"/threads/{run.thread_id}/runs/{run.public_id}"
    return {"Location": f"{base}/join", "Content-Location": base}
