"""Resume a LangGraph graph from a HITL callback webhook.

The callback's ``metadata.workflow_id`` is the graph's ``thread_id``; its optional
``metadata.checkpoint_id`` names the checkpoint to resume from; the person's ``response`` goes
in as ``Command(resume=response)``, which is what the graph's pending ``interrupt()`` returns.

A request can also end without an answer: withdrawn (``request.cancelled``) or expired at its
deadline with no default answer (``request.expired``). Its callback is the last one the agent
gets for that request, so it must be acknowledged like an answer: `resume_from_webhook` then
returns a `RequestEnded` saying so, resumes nothing, and raises nothing (a handler that raised
would have the delivery retried until the service gives up). What the workflow does next is
the agent's choice: its graph still waits at the ``interrupt()``.

    async def handler(payload, message):
        ended = await resume_from_webhook(graph, payload)
        if isinstance(ended, RequestEnded):
            log.info("%s: no answer (%s)", ended.workflow_id, ended.reason or ended.state)

    receiver = WebhookReceiver(secret, handler, store=SQLiteDedupeStore("hooks.db"), ...)

The receiver (`hitl.sdk.receiver`) checks the signature, that the request is one this agent
created, and dedupes, before the handler sees a payload: a forged "expired" is refused there
like a forged answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

ANSWERED = "request.responded"
ENDED = {"request.expired": "expired", "request.cancelled": "cancelled"}


@dataclass(frozen=True)
class RequestEnded:
    """A callback saying the request ended without an answer; nothing was resumed.

    ``state`` is ``expired`` (its deadline passed: ``reason`` says why, e.g. "no answer before
    the deadline" or that the default answer was refused; ``deadline_at`` is when) or
    ``cancelled`` (withdrawn by ``by``). ``at`` is when it ended; ``payload`` is the callback."""

    state: Literal["expired", "cancelled"]
    request_id: str
    workflow_id: str
    checkpoint_id: str | None
    at: str | None
    reason: str | None
    deadline_at: str | None
    by: str | None
    payload: dict[str, Any]

    @classmethod
    def of(cls, payload: dict[str, Any]) -> RequestEnded | None:
        """The end a callback payload reports, or None if it is not an end (an answer)."""
        state = ENDED.get(str(payload.get("event")))
        if state is None:
            return None
        config = resume_config(payload)["configurable"]
        expired = state == "expired"
        return cls(
            state="expired" if expired else "cancelled",
            request_id=str(payload.get("request_id")),
            workflow_id=config["thread_id"],
            checkpoint_id=config.get("checkpoint_id"),
            at=payload.get("expired_at" if expired else "cancelled_at"),
            reason=payload.get("reason"),
            deadline_at=payload.get("deadline_at"),
            by=payload.get("cancelled_by"),
            payload=payload,
        )


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
    """For an answer (``request.responded``, a person's or a deadline's default):
    ``graph.ainvoke(Command(resume=response), config)`` for the thread the callback names, and
    what it returns. For a request that ended unanswered (``request.expired``,
    ``request.cancelled``): a `RequestEnded`, without touching the graph. Anything else is not
    a request callback: `ValueError`."""
    ended = RequestEnded.of(payload)
    if ended is not None:
        return ended
    if payload.get("event") != ANSWERED:
        raise ValueError(f"not a request callback: event {payload.get('event')!r}")
    # LangGraph is an optional dependency of the SDK: only an agent that runs a graph has it.
    from langgraph.types import Command

    return await graph.ainvoke(
        Command(resume=payload.get("response")), resume_config(payload, config), **kwargs
    )
