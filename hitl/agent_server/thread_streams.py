"""Thread event streams at the Agent Server door (LangGraph's v3 streaming protocol, which
``client.threads.stream(thread_id, assistant_id=...)`` speaks): ``POST
/threads/{id}/stream/events`` (Server-Sent Events) and ``POST /threads/{id}/commands``.

A thread's stream follows its runs one after another, in the order they were asked for
(`thread_runs`): each run's ``lifecycle`` ``running``, its chunks from its Redis stream
(`hitl.run_streams`) as ``values``, ``updates``, ``messages`` (its chat models' tokens,
`protocol_messages`) and ``custom`` events, then its end as its record in Postgres says it:
``completed``, ``failed``, or ``interrupted`` with an ``input.requested`` for each of the
thread's pending interrupts (the runner records a run before its end is streamed, so its
requests are there when the end is read). Then the next run, whenever it comes; the stream
stays open until the client leaves. A run that was not streamed (an answer from the inbox)
shows as its start, the thread's values once it ended (if no run came after it), and its end.

Opened without ``since``, the stream replays the thread's history, as the Agent Server's does
(LangGraph's JavaScript client opens its streams so and places its commands' runs in it by
their ``running`` events): every run from the first, each with the chunks its Redis stream
still holds (`HITL_STREAM_TTL_SECONDS` after it ended), then live. A client that knows where
it is sends ``since`` (the last ``seq`` it saw, `protocol_events`): the commands' answers
carry the seq just before their run's first event (``meta.applied_through_seq``), which
LangGraph's Python client sends when it opens its streams. With ``since``, the stream replays
from the run that event belongs to, and sends only what came after it.

The commands: ``run.start`` starts a streamed run (as ``POST /threads/{id}/runs`` does,
creating the thread on its first run, as the client expects); ``input.respond`` answers an
interrupt through the inbox's answer path (validated against its response schema, first answer
wins, recorded as the caller's) and starts the run that applies it, streamed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hitl import errors, requests, runs, threads
from hitl.agent_server import protocol_events as pe
from hitl.agent_server import protocol_messages as pm
from hitl.agent_server import runs as agent_runs
from hitl.agent_server import thread_runs
from hitl.agent_server.run_bodies import RunCreate
from hitl.agent_server.streams import SSE, held
from hitl.api.deps import CanReadThreads, CanWriteThreads, ServiceDep
from hitl.auth import Principal
from hitl.models import Run
from hitl.service import Service

router = APIRouter(tags=["agent server: thread streams"])


@router.post("/threads/{thread_id}/stream/events", responses=SSE)
async def stream_events(
    service: ServiceDep, _: CanReadThreads, thread_id: str, body: pe.Subscription
) -> Response:
    """The thread's events on the channels (and namespaces) asked for, from its first run on,
    or after ``since``."""
    async with service.pool.connection() as conn:
        await threads.get(conn, thread_id)  # 404 for an unknown thread
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return await held(service, _stream(service, thread_id, body), headers)


async def _stream(service: Service, thread_id: str, asked: pe.Subscription) -> AsyncIterator[bytes]:
    after = -1 if asked.since is None else asked.since
    first_id = 0 if asked.since is None else pe.first_run_of(asked.since)
    async with service.watch_thread(thread_id) as watch:
        async for run in thread_runs.runs_from(service, thread_id, watch, first_id):
            if run is None:
                yield b": keep-alive\n\n"
                continue
            async for found in _run_events(service, run):
                if found is None:
                    yield b": keep-alive\n\n"
                elif found["seq"] > after and asked.wants(found):
                    yield _frame(found)


async def _run_events(service: Service, run: Run) -> AsyncIterator[dict[str, Any] | None]:
    """One run's events (None: nothing for a while, a keep-alive is due)."""
    yield pe.started(run)
    messages = pm.Messages()
    async for chunk in thread_runs.chunks_of(service, run):
        if chunk is None:
            yield None
            continue
        for found in pe.of_chunk(run, chunk, messages):
            yield found
    for found in pe.messages_left_open(run, messages):
        yield found
    if not run.options.get("stream"):  # its state at its end, if it is the thread's latest
        async with service.pool.connection() as conn:
            later = await runs.run_from(conn, run.thread_id, run.id + 1)
            thread = await threads.get(conn, run.thread_id)
        if later is None and isinstance(thread.values, dict):
            state = {k: v for k, v in thread.values.items() if k != "__interrupt__"}
            yield pe.event("values", state, pe.seq_of(run.id, pe.END_POSITION - 1, 0))
    for found in await _end_of(service, run):
        yield found


async def _end_of(service: Service, run: Run) -> list[dict[str, Any]]:
    """The run's end events, from its record and the thread's pending requests (those of a
    later run are not this run's: then the run was interrupted only if the next one resumed
    it)."""
    async with service.pool.connection() as conn:
        try:
            found: Run = await runs.find(conn, run.thread_id, str(run.public_id))
        except runs.RunNotFound:  # rolled back, and forgotten
            found = run.model_copy(update={"status": "cancelled"})
        later = await runs.run_from(conn, run.thread_id, run.id + 1)
        pending = [] if later else await requests.pending_of_thread(conn, run.thread_id)
    resumed = later is not None and later.kind == "resume" and found.status == "done"
    return pe.ended(found, pending, resumed=resumed)


def _frame(found: dict[str, Any]) -> bytes:
    encoded = json.dumps(found, default=str, separators=(",", ":")).encode()
    return (
        f"id: {found['seq']}\nevent: {found['method']}\n".encode() + b"data: " + encoded + b"\n\n"
    )


# -- commands -----------------------------------------------------------------------------------


class Command(BaseModel):
    """A protocol command: ``{id, method, params}``."""

    model_config = ConfigDict(extra="forbid")

    id: int = Field(ge=0)
    method: str = Field(max_length=100)
    params: dict[str, Any] = Field(default_factory=dict)


class RunStartParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assistant_id: str = Field(min_length=1, max_length=200)
    input: Any = None
    config: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    langsmith_tracer: Any = None


class InputRespondParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interrupt_id: str = Field(min_length=1, max_length=200)
    namespace: list[str] = Field(default_factory=list, max_length=100)
    response: Any = None
    config: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


@router.post("/threads/{thread_id}/commands")
async def command(
    service: ServiceDep, principal: CanWriteThreads, thread_id: str, body: Command
) -> dict[str, Any]:
    """``run.start`` or ``input.respond``; answers the protocol's envelope with the run's id."""
    if body.method == "run.start":
        run = await _run_start(service, principal, thread_id, _params(RunStartParams, body.params))
    elif body.method == "input.respond":
        asked = _params(InputRespondParams, body.params)
        run = await _input_respond(service, principal, thread_id, asked)
    else:
        raise errors.InvalidInput(
            [
                {
                    "loc": ["body", "method"],
                    "msg": f"unknown command {body.method!r}: this service serves run.start "
                    "and input.respond",
                    "type": "value_error",
                }
            ]
        )
    return {
        "type": "success",
        "id": body.id,
        "result": {"run_id": str(run.public_id)},
        # the client's cursor: its streams opened from now on replay the run from its start
        "meta": {"applied_through_seq": pe.seq_of(run.id, 0, 0) - 1},
    }


_Params = TypeVar("_Params", bound=BaseModel)


def _params(model: type[_Params], params: dict[str, Any]) -> _Params:
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise errors.InvalidInput(
            [
                {"loc": ["body", "params", *e["loc"]], "msg": e["msg"], "type": e["type"]}
                for e in exc.errors()
            ]
        ) from None


async def _run_start(
    service: Service, principal: Principal, thread_id: str, asked: RunStartParams
) -> Run:
    body = RunCreate(
        assistant_id=asked.assistant_id,
        input=asked.input,
        config=asked.config,
        metadata=asked.metadata,
        stream_mode=pe.RUN_STREAM["modes"],
        if_not_exists="create",  # the client mints the thread's id, and its first run makes it
    )
    try:
        return await agent_runs.start(service, principal, thread_id, body, streamed=True)
    except errors.InvalidInput as exc:
        raise errors.InvalidInput(_in_params(exc.detail)) from None


def _in_params(problems: Any) -> Any:
    """A run's problems located in the command's ``params``."""
    if not isinstance(problems, list):
        return problems
    return [
        {**p, "loc": ["body", "params", *list(p.get("loc", ()))[1:]]}
        if list(p.get("loc", ()))[:1] == ["body"]
        else p
        for p in problems
    ]


async def _input_respond(
    service: Service, principal: Principal, thread_id: str, asked: InputRespondParams
) -> Run:
    """Answer one interrupt through the inbox's answer path, and start the run that applies
    it, streamed."""
    async with service.pool.connection() as conn:
        pending = await requests.pending_of_thread(conn, thread_id)
        if not pending:
            await threads.get(conn, thread_id)  # 404 for an unknown thread
    if not principal.has("requests:answer"):
        raise errors.MissingScope("requests:answer")
    options: dict[str, Any] = {"stream": dict(pe.RUN_STREAM)}
    for key in ("config", "metadata"):
        if (value := getattr(asked, key)) is not None:
            options[key] = value
    answers = {asked.interrupt_id: asked.response}
    try:
        row = await requests.respond_thread_run(
            service.pool, thread_id, answers, principal, options, pending
        )
    except errors.InvalidInput as exc:
        known = {p.interrupt_id for p in pending}
        raise errors.InvalidInput(_at_response(exc.detail, asked.interrupt_id in known)) from None
    return runs.ClaimedRun.model_validate(row)


def _at_response(problems: Any, known: bool) -> Any:
    """The answer path's problems (at ``resume.<interrupt id>``), located in the command's
    ``params``: its ``response``, or its ``interrupt_id`` when the thread has no such
    pending interrupt."""
    if not isinstance(problems, list):
        return problems
    found = []
    for problem in problems:
        rest = list(problem.get("loc", ()))[3:]
        where = ["response", *rest] if known else ["interrupt_id"]
        found.append({**problem, "loc": ["body", "params", *where]})
    return found
