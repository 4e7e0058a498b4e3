"""What the Agent Server does and this door does not: 501 with a ``detail`` naming the feature.

A client calling one of these hears which feature is missing, not a bare 404 that reads like a
wrong URL. They are left out of the service's OpenAPI document (they are no operations of
it), and answer any known caller (the ``signed-in`` permission): the answer reveals nothing
but the missing feature. Also the door's ``/info`` and ``/ok``, which clients call
before anything else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import langgraph.version
from fastapi import APIRouter

from hitl import errors
from hitl.api.deps import Authenticated, Public

router = APIRouter(tags=["agent server"])


class NotSupported(errors.HITLError):
    """The Agent Server has this feature; this service does not."""

    status_code = 501

    def __init__(self, feature: str) -> None:
        super().__init__(f"{feature} is not supported by this service")


# (methods, path, the feature as the detail names it)
UNSUPPORTED: list[tuple[list[str], str, str]] = [
    (["POST"], "/assistants", "creating assistants: every registered graph is one assistant"),
    (
        ["PATCH", "DELETE"],
        "/assistants/{assistant_id}",
        "changing or deleting assistants: every registered graph is one assistant",
    ),
    (
        ["POST"],
        "/assistants/{assistant_id}/versions",
        "assistant versions: every registered graph is one assistant",
    ),
    (
        ["POST"],
        "/assistants/{assistant_id}/latest",
        "assistant versions: every registered graph is one assistant",
    ),
    (["POST"], "/threads/prune", "pruning threads (retention settings prune old threads)"),
    (["POST"], "/threads/{thread_id}/copy", "copying threads"),
    (["GET"], "/threads/{thread_id}/storage", "reporting a thread's checkpoint storage"),
    (["POST"], "/threads/{thread_id}/runs/crons", "cron jobs (crons)"),
    (["POST"], "/runs/crons", "cron jobs (crons)"),
    (["POST"], "/runs/crons/search", "cron jobs (crons)"),
    (["POST"], "/runs/crons/count", "cron jobs (crons)"),
    (["GET", "PATCH", "DELETE"], "/runs/crons/{cron_id}", "cron jobs (crons)"),
    (["POST"], "/runs/batch", "batches of runs (runs/batch)"),
    # (runs are streamed: hitl/agent_server/streams.py; thread event streams: thread_streams.py;
    # joining a thread's stream, GET: thread_join.py)
    (["POST"], "/threads/{thread_id}/stream", "posting to a thread's stream"),
    (["PUT", "GET", "DELETE"], "/store/items", "the store (store)"),
    (["POST"], "/store/items/search", "the store (store)"),
    (["POST"], "/store/namespaces", "the store (store)"),
]


def _refuse(feature: str) -> Callable[..., Awaitable[NoReturn]]:
    async def refuse(_: Authenticated) -> NoReturn:
        raise NotSupported(feature)

    return refuse


for methods, path, feature in UNSUPPORTED:
    for method in methods:  # one route per method: one OpenAPI operation each
        router.add_api_route(
            path,
            _refuse(feature),
            methods=[method],
            response_model=None,
            name=f"unsupported {method} {path}",
            include_in_schema=False,  # not an operation of the service: a named refusal
        )


@router.get("/info")
async def info(_: Public) -> dict[str, Any]:
    """What the door is, as the Agent Server's ``/info`` says it: its version and flags (no
    crons, no store, no LangSmith)."""
    return {
        "version": "0.1.0",
        "langgraph_py_version": langgraph.version.__version__,
        "flags": {"assistants": True, "crons": False, "langsmith": False, "store": False},
        "host": None,
    }


@router.get("/ok")
async def ok(_: Public) -> dict[str, bool]:
    return {"ok": True}
