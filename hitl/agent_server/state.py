"""``/lg/threads/{id}/state`` and ``/history``: a thread's state, read from its checkpoints.

LangGraph reads them (``aget_state`` / ``aget_state_history`` of the thread's graph, compiled
with the service's checkpointer), so the state is what a run of the graph would see, subgraphs
and pending tasks included; `mapping.state` puts it in the Agent Server's shape. A thread with
no graph yet has the empty state. Writing a state (``POST /state``) is a run's business, with
the runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from langchain_core.runnables import RunnableConfig
from langgraph.pregel import Pregel

from hitl import errors, threads
from hitl.agent_server import mapping
from hitl.agent_server.bodies import HistorySearch, StateAtCheckpoint
from hitl.api.deps import CanReadThreads, ServiceDep
from hitl.service import Service

router = APIRouter(prefix="/threads/{thread_id}", tags=["agent server: state"])


@router.get("/state")
async def get_state(
    thread_id: str, service: ServiceDep, _: CanReadThreads, subgraphs: bool = False
) -> Any:
    return await _state(service, thread_id, {}, subgraphs)


# Declared before /state/{checkpoint_id}, which would otherwise take "checkpoint" for an id
# (with POST it cannot, but the order keeps the reading simple).
@router.post("/state/checkpoint")
async def get_state_at(
    thread_id: str, body: StateAtCheckpoint, service: ServiceDep, _: CanReadThreads
) -> Any:
    return await _state(service, thread_id, body.checkpoint.configurable(), body.subgraphs)


@router.get("/state/{checkpoint_id}")
async def get_state_at_id(
    thread_id: str,
    checkpoint_id: str,
    service: ServiceDep,
    _: CanReadThreads,
    subgraphs: bool = False,
) -> Any:
    return await _state(service, thread_id, {"checkpoint_id": checkpoint_id}, subgraphs)


@router.post("/history")
async def get_history(
    thread_id: str, body: HistorySearch, service: ServiceDep, _: CanReadThreads
) -> list[dict[str, Any]]:
    """The thread's states, newest first: ``limit`` of them, ``before`` a checkpoint, with
    ``metadata`` containing these keys, of a subgraph (``checkpoint``)."""
    at = {"checkpoint_ns": "", **(body.checkpoint.configurable() if body.checkpoint else {})}
    before: RunnableConfig | None = None
    if body.before is not None:
        before = {"configurable": {"thread_id": thread_id, **body.before.configurable()}}
    async with _graph(service, thread_id) as graph:
        if graph is None:
            return []
        return [
            mapping.state(snapshot)
            async for snapshot in graph.aget_state_history(
                _config(thread_id, at), filter=body.metadata, before=before, limit=body.limit
            )
        ]


async def _state(
    service: Service, thread_id: str, at: dict[str, Any], subgraphs: bool
) -> dict[str, Any]:
    async with _graph(service, thread_id) as graph:
        if graph is None:
            return mapping.empty_state()
        snapshot = await graph.aget_state(_config(thread_id, at), subgraphs=subgraphs)
    return mapping.state(snapshot)


def _config(thread_id: str, at: dict[str, Any]) -> RunnableConfig:
    return {"configurable": {**at, "thread_id": thread_id}}


@contextlib.asynccontextmanager
async def _graph(service: Service, thread_id: str) -> AsyncIterator[Pregel[Any, Any] | None]:
    """The thread's graph (None for a thread with none yet); 404 for no such thread, or for a
    graph no longer registered (its checkpoints cannot be read without it)."""
    async with service.pool.connection() as conn:
        thread = await threads.get(conn, thread_id)
    if thread.graph is None:
        yield None
        return
    async with service.graphs.for_run(thread.graph, _config(thread_id, {})) as graph:
        if graph is None:
            raise errors.NotFound(
                f"thread {thread_id!r} ran graph {thread.graph!r}, which is not registered "
                "here: its state cannot be read without it"
            )
        yield graph
