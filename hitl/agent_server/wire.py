"""Our runs as the Agent Server API shows them: their fields, statuses and results.

Its statuses are coarser than ours: a run waiting behind another (``pending``) and one queued to
start are both ``pending``; ``done`` is ``success``, ``failed`` is ``error``, a cancelled run is
``interrupted``.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from hitl.models import Run, ThreadWithValues
from hitl.registry import assistant_id

RunStatus = Literal["pending", "running", "error", "success", "timeout", "interrupted"]
CancelAction = Literal["interrupt", "rollback"]

ENDED = ("done", "failed", "cancelled")
_STATUS: dict[str, RunStatus] = {
    "pending": "pending",
    "queued": "pending",
    "running": "running",
    "done": "success",
    "failed": "error",
    "cancelled": "interrupted",
}


def our_run_statuses(status: RunStatus | None) -> list[str] | None:
    """Ours that show as ``status`` (None: all)."""
    if status is None:
        return None
    return [ours for ours, theirs in _STATUS.items() if theirs == status]


def run(found: Run, graph: str | None = None) -> dict[str, Any]:
    graph = graph or getattr(found, "graph", None) or found.options.get("assistant_id") or ""
    ended = found.finished_at or found.started_at or found.created_at
    return {
        "run_id": str(found.public_id),
        "thread_id": found.thread_id,
        "assistant_id": assistant_id(graph),
        "created_at": found.created_at.isoformat(),
        "updated_at": ended.isoformat(),
        "status": _STATUS[found.status],
        "metadata": found.options.get("metadata") or {},
        "multitask_strategy": found.options.get("multitask_strategy", "enqueue"),
        "kwargs": {
            key: found.options[key]
            for key in ("config", "context", "interrupt_before", "interrupt_after", "command")
            if key in found.options
        },
    }


def result(ended: Run | None, thread: ThreadWithValues, pending: list[dict[str, Any]]) -> bytes:
    """What ``/runs/wait`` and ``/join`` answer: the thread's values; with ``__interrupt__``
    (its pending interrupts) when the run stopped at some; ``{"__error__": ...}`` when it
    failed."""
    if ended is not None and ended.status == "failed":
        error = ended.error or {}
        body: Any = {"__error__": {"error": error.get("type"), "message": error.get("message")}}
    else:
        values = thread.values if thread.values is not None else {}
        body = values if isinstance(values, dict) else {"value": values}
        if pending and thread.status == "interrupted":
            interrupts = [{"id": p["interrupt_id"], "value": p["value"]} for p in pending]
            body = {**body, "__interrupt__": interrupts}
    return json.dumps(body, default=str).encode()
