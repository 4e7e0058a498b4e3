"""Resume a LangGraph graph from a HITL callback webhook.

The callback's ``metadata.workflow_id`` is the graph's ``thread_id``; its optional
``metadata.checkpoint_id`` names the checkpoint to resume from; the person's ``response`` goes
in as ``Command(resume=response)``, which is what the graph's pending ``interrupt()`` returns.

    async def handler(payload, message):
        await resume_from_webhook(graph, payload)

    receiver = WebhookReceiver(secret, handler, store=SQLiteDedupeStore("hooks.db"))
"""

from __future__ import annotations

from typing import Any


def resume_config(payload: dict[str, Any], config: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run config a callback payload points at (``thread_id``, ``checkpoint_id``)."""
    metadata = payload.get("metadata") or {}
    workflow_id = metadata.get("workflow_id")
    if not workflow_id:
        raise ValueError("the payload has no metadata.workflow_id: not a HITL request callback")
    configurable = {**(config or {}).get("configurable", {}), "thread_id": workflow_id}
    if metadata.get("checkpoint_id"):
        configurable["checkpoint_id"] = metadata["checkpoint_id"]
    return {**(config or {}), "configurable": configurable}


async def resume_from_webhook(
    graph: Any, payload: dict[str, Any], *, config: dict[str, Any] | None = None, **kwargs: Any
) -> Any:
    """``graph.ainvoke(Command(resume=response), config)`` for the thread the callback names."""
    # LangGraph is an optional dependency of the SDK: only an agent that runs a graph has it.
    from langgraph.types import Command

    if payload.get("event") != "request.responded":
        raise ValueError(f"not an answer callback: event {payload.get('event')!r}")
    return await graph.ainvoke(
        Command(resume=payload.get("response")), resume_config(payload, config), **kwargs
    )
