"""Our records in the Agent Server's shapes: thread statuses, assistants, threads, states.

Pure functions of what the service stores and what LangGraph returns, so that every route of
the door answers the same shapes (and the tests can read them here).

Statuses: the Agent Server knows ``idle`` (nothing to do: a new thread, or one whose graph
ended), ``busy`` (a run is queued or running), ``interrupted`` and ``error``.

Interrupts of a thread: the Agent Server keys them by the id of the task that raised them. We
record an interrupt's id, not its task's (the task id is LangGraph's, and the interrupt id is
a hash of the task's namespace, which cannot be turned back into it), so a thread's
``interrupts`` here are keyed by the interrupt id: ``{interrupt_id: [{id, value}]}``, one
interrupt per key, stable for as long as the interrupt is pending. Clients that read the
values (``Object.values(thread.interrupts).flat()``, as inboxes do) see the same list; the
state's ``tasks`` (`state`) carry the real task ids, from the checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.types import StateSnapshot

from hitl import errors
from hitl.models import ThreadWithValues
from hitl.registry import GraphRegistry, GraphSpec, assistant_id
from hitl.validation import to_json

AgentStatus = Literal["idle", "busy", "interrupted", "error"]

#: Our thread status -> the Agent Server's.
THREAD_STATUS: dict[str, AgentStatus] = {
    "idle": "idle",
    "completed": "idle",
    "queued": "busy",
    "running": "busy",
    "interrupted": "interrupted",
    "failed": "error",
}
#: The Agent Server's thread status -> the stored statuses it stands for (a search's filter).
STORED_STATUSES: dict[AgentStatus, tuple[str, ...]] = {
    agent: tuple(ours for ours, theirs in THREAD_STATUS.items() if theirs == agent)
    for agent in ("idle", "busy", "interrupted", "error")
}

#: When this process read its graphs: the assistants' created_at and updated_at (a graph is
#: registered in code, so this is the closest thing to a creation time there is).
LOADED_AT = datetime.now(UTC)


def graph_of(registry: GraphRegistry, assistant: str) -> GraphSpec:
    """The registered graph ``assistant`` names: its graph id (the graph's name) or its
    assistant id; 404 naming it otherwise."""
    if assistant in registry:
        return registry.get(assistant)
    for name in registry.names():
        if assistant_id(name) == assistant:
            return registry.get(name)
    raise errors.NotFound(
        f"assistant {assistant!r} not found: an assistant is a registered graph, named by its "
        f"graph id ({', '.join(registry.names()) or 'none registered'}) or its assistant id"
    )


def assistant(spec: GraphSpec) -> dict[str, Any]:
    """A registered graph as the Agent Server's ``Assistant``: its one and only version."""
    return {
        "assistant_id": assistant_id(spec.name),
        "graph_id": spec.name,
        "config": {},
        "context": {},
        "created_at": LOADED_AT,
        "updated_at": LOADED_AT,
        "metadata": {"created_by": "system"},
        "version": 1,
        "name": spec.name,
        "description": spec.description.strip() or None,
    }


def interrupt(pending: dict[str, Any]) -> dict[str, Any]:
    """A pending request (``interrupt_id``, ``value``, ``response_schema``) as an
    ``Interrupt``."""
    found = {"id": pending["interrupt_id"], "value": pending["value"]}
    if pending.get("response_schema") is not None:
        found["response_schema"] = pending["response_schema"]
    return found


def thread(row: ThreadWithValues, pending: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A thread and its pending requests as the Agent Server's ``Thread``. Its graph shows in
    its metadata as ``graph_id`` and ``assistant_id``, where the Agent Server keeps them."""
    metadata = dict(row.metadata)
    if row.graph is not None:
        metadata.update(graph_id=row.graph, assistant_id=assistant_id(row.graph))
    values = row.values
    return {
        "thread_id": row.thread_id,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "state_updated_at": row.updated_at,
        "metadata": metadata,
        "config": {},
        "status": THREAD_STATUS[row.status],
        "values": values if isinstance(values, dict) or values is None else {"value": values},
        "interrupts": {p["interrupt_id"]: [interrupt(p)] for p in pending},
        "error": row.error,
    }


# -- states: LangGraph's StateSnapshot as the Agent Server's ThreadState -------------------------


def checkpoint(config: RunnableConfig | None) -> dict[str, Any] | None:
    """The ``CheckpointConfig`` of a snapshot's config: None unless it names a checkpoint."""
    configurable = (config or {}).get("configurable") or {}
    if not configurable.get("thread_id") or not configurable.get("checkpoint_id"):
        return None
    found = {
        "thread_id": configurable["thread_id"],
        "checkpoint_ns": configurable.get("checkpoint_ns") or "",
        "checkpoint_id": configurable["checkpoint_id"],
    }
    if "checkpoint_map" in configurable:
        found["checkpoint_map"] = to_json(configurable["checkpoint_map"])
    return found


def _interrupt(raised: Any) -> dict[str, Any]:
    found = {"id": raised.id, "value": to_json(raised.value)}
    schema = getattr(raised, "response_schema", None)
    if schema is not None:
        found["response_schema"] = to_json(schema)
    return found


def _error(error: Any) -> Any:
    if error is None or isinstance(error, str | dict):
        return error
    return {"error": type(error).__name__, "message": str(error)}


def state(snapshot: StateSnapshot) -> dict[str, Any]:
    """A LangGraph state snapshot as a ``ThreadState``: JSON throughout (`to_json`: LangChain
    messages become their ``model_dump``, with ``type``, as the Agent Server writes them)."""
    return {
        "values": to_json(snapshot.values),
        "next": list(snapshot.next),
        "tasks": [
            {
                "id": task.id,
                "name": task.name,
                "path": to_json(task.path),
                "error": _error(task.error),
                "interrupts": [_interrupt(i) for i in task.interrupts],
                "checkpoint": to_json(task.state["configurable"])
                if task.state is not None and not isinstance(task.state, StateSnapshot)
                else None,
                "state": state(task.state) if isinstance(task.state, StateSnapshot) else None,
                "result": to_json(task.result),
            }
            for task in snapshot.tasks
        ],
        "metadata": to_json(snapshot.metadata),
        "created_at": snapshot.created_at,
        "checkpoint": checkpoint(snapshot.config),
        "parent_checkpoint": checkpoint(snapshot.parent_config),
        "interrupts": [_interrupt(i) for i in snapshot.interrupts],
        "checkpoint_id": checkpoint_id(snapshot.config),
        "parent_checkpoint_id": checkpoint_id(snapshot.parent_config),
    }


def checkpoint_id(config: RunnableConfig | None) -> str | None:
    found = (config or {}).get("configurable", {}).get("checkpoint_id")
    return str(found) if found else None


def empty_state() -> dict[str, Any]:
    """The state of a thread with no graph yet, as the Agent Server gives it."""
    return {
        "values": {},
        "next": [],
        "tasks": [],
        "metadata": None,
        "created_at": None,
        "checkpoint": None,
        "parent_checkpoint": None,
        "interrupts": [],
        "checkpoint_id": None,
        "parent_checkpoint_id": None,
    }
