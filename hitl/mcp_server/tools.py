"""The MCP tools, on the service: each is an ordinary request (inbox, assignment, deadline,
notifications, audit under the caller's name), created through `hitl.external` and answered
through `hitl.requests` like any other; the tools only wait for the answer, a bounded time
(``HITL_MCP_WAIT_SECONDS``), and say where it stands.

A call that outlasts the bound returns ``{request_id, status: "pending"}``: MCP clients give
up on a request after a minute or so, and the agent polls `get_answer` instead.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal, NotRequired, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from hitl import errors, external, policies, requests
from hitl.assignment import Routing
from hitl.auth import Principal
from hitl.mcp_server import permission
from hitl.models import Request
from hitl.service import Service

Status = Literal["answered", "pending", "expired", "cancelled"]
STATUS_OF: dict[str, Status] = {
    "pending": "pending",
    "responded": "answered",
    "resumed": "answered",
    "expired": "expired",
    "cancelled": "cancelled",
    "superseded": "cancelled",
}

APPROVAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Approval",
    "properties": {
        "approved": {"type": "boolean", "title": "Approve"},
        "comment": {"type": "string", "title": "Comment"},
    },
    "required": ["approved"],
}


class Outcome(TypedDict):
    """A tool's answer: where the request stands, and the answer once there is one."""

    request_id: str
    status: Status
    url: str
    response: NotRequired[Any]
    responded_by: NotRequired[str | None]


class Terms(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignees: list[str] = Field(
        default_factory=list, description="Users who may answer (default: anyone)."
    )
    groups: list[str] = Field(
        default_factory=list, description="Groups whose members may answer (default: anyone)."
    )
    timeout_seconds: float | None = Field(
        None,
        gt=0,
        le=policies.MAX_TIMEOUT_SECONDS,
        description="The request's deadline, in seconds from now (default: the service's).",
    )
    on_timeout: policies.Policy | None = Field(
        None,
        description="What happens at the deadline: a default answer, an escalation or expiry.",
    )


class AskHuman(Terms):
    message: str = Field(min_length=1, max_length=20_000, description="What to ask the person.")
    response_schema: dict[str, Any] | None = Field(
        None,
        description="JSON Schema of the answer (its form; the answer is validated against it). "
        "Default: free text.",
    )


class RequestApproval(Terms):
    action: str = Field(min_length=1, max_length=500, description="What the agent wants to do.")
    details: Any = Field(None, description="What the reviewer should see: arguments, a diff...")
    reason: str | None = Field(None, max_length=20_000, description="Why the agent wants to.")


class GetAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(description="The id an earlier call returned.")


class PermissionPrompt(BaseModel):
    """Claude Code's ``--permission-prompt-tool`` input."""

    model_config = ConfigDict(extra="ignore")

    tool_name: str = Field(min_length=1, max_length=200, description="The tool to be used.")
    input: dict[str, Any] = Field(description="Its input.")
    tool_use_id: str | None = Field(None, max_length=200)


async def ask_human(service: Service, by: Principal, args: AskHuman, base: str) -> Outcome:
    schema = args.response_schema or {"type": "string", "title": "Answer"}
    request = await _create(
        service, by, args, title=args.message, context={"message": args.message}, schema=schema
    )
    return _outcome(await _settled(service, request.id, service.settings.mcp_wait_seconds), base)


async def request_approval(
    service: Service, by: Principal, args: RequestApproval, base: str
) -> Outcome:
    shown = {"action": args.action, "details": args.details, "reason": args.reason}
    context = {k: v for k, v in shown.items() if v is not None}
    request = await _create(
        service, by, args, title=f"Approve: {args.action}", context=context, schema=APPROVAL_SCHEMA
    )
    return _outcome(await _settled(service, request.id, service.settings.mcp_wait_seconds), base)


async def get_answer(service: Service, by: Principal, args: GetAnswer, base: str) -> Outcome:
    async with service.pool.connection() as conn:
        request = await requests.get(conn, args.request_id)
    if not external.may_follow(by, request):
        raise errors.Forbidden(
            f"request {args.request_id!r} was created by another: only its creator and admins "
            "may wait on its answer"
        )
    return _outcome(await _settled(service, request.id, service.settings.mcp_wait_seconds), base)


async def permission_prompt(service: Service, by: Principal, args: PermissionPrompt) -> str:
    """Ask whether the coding agent may use a tool; Claude Code's JSON answer. Undecided
    within ``HITL_MCP_PERMISSION_WAIT_SECONDS``: the request is withdrawn and the use denied."""
    request = await _create(
        service,
        by,
        Terms(),
        title=permission.title(args.tool_name, args.input),
        context=permission.context(args.tool_name, args.input, args.tool_use_id),
        schema=permission.RESPONSE_SCHEMA,
    )
    found = await _settled(service, request.id, service.settings.mcp_permission_wait_seconds)
    if found.state == "pending":
        async with service.pool.connection() as conn:
            try:
                await external.withdraw(conn, found.id, by)
            except errors.RequestNotPending as exc:  # answered at the last moment: take it
                found = exc.request if isinstance(exc.request, Request) else found
    return permission.as_text(permission.decision(found, args.input))


async def _create(
    service: Service,
    by: Principal,
    terms: Terms,
    *,
    title: str,
    context: Any,
    schema: dict[str, Any],
) -> Request:
    """An external request without a callback, created by ``by`` (422 on bad terms)."""
    routing = (
        Routing(assignees=terms.assignees, groups=terms.groups)
        if terms.assignees or terms.groups
        else None
    )
    body = external.ExternalRequestCreate(
        workflow_id=f"mcp:{uuid.uuid4()}",
        context=context,
        title=title if len(title) <= 500 else title[:499] + "…",
        response_schema=schema,
        timeout_seconds=terms.timeout_seconds,
        on_timeout=terms.on_timeout,
        routing=routing,
        metadata={"via": "mcp"},
    )
    async with service.pool.connection() as conn:
        return await external.create(conn, body, service.deadline_defaults, by)


async def _settled(service: Service, request_id: str, seconds: float) -> Request:
    """The request once settled, or as it is after ``seconds`` (at once when the process
    has ``HITL_MAX_WAITERS`` waits open)."""
    async with service.watch_request(request_id) as watch:
        with service.waiting.take() as admitted:
            return await watch.settled(seconds if admitted else 0.0)


def _outcome(request: Request, base: str) -> Outcome:
    status = STATUS_OF[request.state]
    found: Outcome = {
        "request_id": request.id,
        "status": status,
        "url": f"{base.rstrip('/')}/requests/{request.id}",
    }
    if status == "answered":
        found["response"] = request.response
        found["responded_by"] = request.responded_by
    return found
