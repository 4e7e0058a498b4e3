"""LangGraph's Agent Server API under ``/lg``: a second door to the same threads.

Clients written for LangGraph's Agent Server (``langgraph_sdk.get_client(url=".../lg",
api_key=...)``, LangGraph Studio, agent inboxes) work against this service unchanged: the
routes, field names, status codes and shapes are the Agent Server's (its OpenAPI), over the
service's own records. A thread is one thread whichever door made it; an assistant is a
registered graph (`assistants`); a thread's state is read from its checkpoints (`state`);
runs are the runner's (`runs`), streamed as they run (`streams`; a thread's event stream:
`thread_streams`; joining a thread's stream: `thread_join`); `mapping` and `wire` turn our
records into the Agent Server's shapes.

Authentication is the service's: the client's ``x-api-key`` header carries a service API key
(`hitl.api.deps.identify`), with the same scopes as ``/api/v1`` (reading needs
``threads:read``, creating, changing and deleting threads ``threads:write``). Errors are the
service's ``{"detail": ...}``, which the Agent Server's clients read the same way. What the
Agent Server does and this service does not (crons, the store, assistant versions, ...) answers
501 naming the feature (`unsupported`).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from hitl.agent_server import (
    assistants,
    runs,
    state,
    streams,
    thread_join,
    thread_streams,
    threads,
    unsupported,
)
from hitl.api import errors

PREFIX = "/lg"

# The door's routers, tried in this order: the calls of every cycle first (a path matches one
# route at most, whatever the order; the order is what a request pays to find it).
ROUTERS: list[APIRouter] = [
    runs.router,  # runs, joins, cancels, and state updates (`update_state`)
    streams.router,  # streamed runs (SSE)
    thread_streams.router,  # thread event streams and their commands (v3 protocol)
    thread_join.router,  # joining a thread's runs' stream (threads.join_stream)
    threads.router,
    state.router,
    assistants.router,
    unsupported.router,
]


def install(app: FastAPI) -> None:
    """Serve the door's routes under `PREFIX`."""
    for router in ROUTERS:
        app.include_router(router, prefix=PREFIX, responses=errors.RESPONSES)
