"""``/lg/threads``: create empty threads, read, change metadata, delete, search and count.

The same threads as ``/api/v1/threads`` (one table), in the Agent Server's shapes
(`mapping.thread`). A thread created here has no graph until its first run names an
assistant (or until the caller names one in ``metadata.graph_id``, as the Agent Server's
clients do with ``threads.create(graph_id=...)``).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response

from hitl import errors, threads
from hitl.agent_server import mapping
from hitl.agent_server.bodies import ThreadCount, ThreadCreate, ThreadPatch, ThreadSearch
from hitl.agent_server.unsupported import NotSupported
from hitl.api.deps import CanReadThreads, CanWriteThreads, ServiceDep
from hitl.registry import GraphRegistry, assistant_id

router = APIRouter(prefix="/threads", tags=["agent server: threads"])


@router.post("")
async def create_thread(body: ThreadCreate, service: ServiceDep, principal: CanWriteThreads) -> Any:
    """An empty thread ('idle'); with ``if_exists: do_nothing``, the existing one when the id
    is taken (409 with ``raise``, the default)."""
    if body.supersteps is not None:
        raise NotSupported("creating a thread from supersteps (supersteps)")
    if body.ttl is not None:
        raise NotSupported("thread time-to-live (ttl): retention settings prune old threads")
    thread_id = body.thread_id or str(uuid.uuid4())
    metadata = body.metadata or {}
    graph = metadata.get("graph_id")
    created = await threads.create_empty(
        service.pool,
        thread_id,
        graph=graph if isinstance(graph, str) and graph in service.registry else None,
        metadata=metadata,
        actor=principal.name,
        actor_subject=principal.subject,
    )
    if created is not None:
        return mapping.thread(created, [])
    if body.if_exists == "raise":
        raise errors.ThreadExists(thread_id)
    async with service.pool.connection() as conn:
        return mapping.thread(*await threads.get_with_pending(conn, thread_id))


@router.post("/search")
async def search_threads(
    body: ThreadSearch, service: ServiceDep, _: CanReadThreads, response: Response
) -> list[dict[str, Any]]:
    """A page of threads, each with its status, values and pending interrupts (one query for
    the page). Offset pagination, as the Agent Server's: ``X-Pagination-Next`` is the next
    page's offset when there is one."""
    if body.extract is not None:
        raise NotSupported("extracting values in a thread search (extract): use select")
    sort = ("updated_at" if body.sort_by == "state_updated_at" else body.sort_by, body.sort_order)
    async with service.pool.connection() as conn:
        found = await threads.search(
            conn,
            _filters(service.registry, body),
            sort=sort,
            limit=body.limit + 1,  # one more: is there a next page?
            offset=body.offset,
        )
    page = [mapping.thread(row, pending) for row, pending in found[: body.limit]]
    if len(found) > body.limit:
        response.headers["X-Pagination-Next"] = str(body.offset + body.limit)
        response.headers["X-Pagination-Total"] = str(body.offset + body.limit + 1)
    else:
        response.headers["X-Pagination-Total"] = str(body.offset + len(page))
    if body.select:
        page = [{k: v for k, v in t.items() if k in body.select} for t in page]
    return page


@router.post("/count")
async def count_threads(body: ThreadCount, service: ServiceDep, _: CanReadThreads) -> int:
    async with service.pool.connection() as conn:
        return await threads.count(conn, _filters(service.registry, body))


@router.get("/{thread_id}")
async def get_thread(thread_id: str, service: ServiceDep, _: CanReadThreads) -> Any:
    async with service.pool.connection() as conn:
        return mapping.thread(*await threads.get_with_pending(conn, thread_id))


@router.patch("/{thread_id}")
async def patch_thread(
    thread_id: str, body: ThreadPatch, service: ServiceDep, _: CanWriteThreads
) -> Any:
    """Merge ``metadata`` into the thread's (a key given again is replaced)."""
    if body.ttl is not None:
        raise NotSupported("thread time-to-live (ttl): retention settings prune old threads")
    async with service.pool.connection() as conn:
        await threads.merge_metadata(conn, thread_id, body.metadata)
        return mapping.thread(*await threads.get_with_pending(conn, thread_id))


@router.delete("/{thread_id}", status_code=204)
async def delete_thread(
    thread_id: str, service: ServiceDep, principal: CanWriteThreads
) -> Response:
    """Delete the thread, its runs and requests, then its checkpoints; 409 while a run of it
    is queued or running."""
    await threads.delete(service.pool, thread_id, actor=principal.name)
    await service.checkpointer.adelete_thread(thread_id)
    return Response(status_code=204)


def _filters(registry: GraphRegistry, body: ThreadCount) -> threads.Filters:
    """The search's filters on our columns. The Agent Server's metadata holds a thread's
    graph_id and assistant_id; ours are the ``graph`` column, so those two keys filter it."""
    metadata = dict(body.metadata or {})
    graphs = set()
    if "graph_id" in metadata:
        graphs.add(str(metadata.pop("graph_id")))
    if "assistant_id" in metadata:
        named = str(metadata.pop("assistant_id"))
        graphs.add(next((n for n in registry.names() if assistant_id(n) == named), ""))
    if len(graphs) > 1:  # two different graphs: nothing matches both
        graphs = {""}  # no graph is named "" (`GraphRegistry.register`): nothing matches
    return threads.Filters(
        statuses=mapping.STORED_STATUSES[body.status] if body.status is not None else None,
        graph=graphs.pop() if graphs else None,
        metadata=metadata or None,
        values=body.values,
        ids=body.ids if isinstance(body, ThreadSearch) else None,
    )
