"""The MCP door: an MCP server at ``/mcp`` (Streamable HTTP, the official ``mcp`` SDK) through
which any agent asks a person: tools ``ask_human``, ``request_approval``, ``get_answer`` and
``permission_prompt`` (shaped for Claude Code's ``--permission-prompt-tool``). See docs/mcp.md.

Authentication is the service's own: ``/mcp`` is a route of the app like the others, so an API
key (``Authorization: Bearer hitl_...``) or a session is resolved into the same `Principal`
and must have ``requests:write`` (401 / 403 otherwise, before any MCP message is read). The
route hands the HTTP exchange to the SDK's session manager, which calls back the tool handler
with the HTTP request, whose scope holds that principal.

The server is stateless (``stateless_http``: no MCP session outlives a POST), so any replica
answers any call, as for the rest of the API; a tool's wait holds no database connection
(`hitl.request_watch`). DNS-rebinding protection (Host / Origin checks) is off: every call
carries a credential that a page in a browser cannot make up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import mcp.types as mcp_types
from fastapi import APIRouter, FastAPI
from fastapi import Request as HTTPRequest
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import BaseModel, ValidationError
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from hitl import errors
from hitl.api.deps import CanWriteRequests
from hitl.auth import Principal
from hitl.mcp_server import tools
from hitl.service import Service

PATH = "/mcp"

Handler = Callable[[Service, Principal, Any, str], Awaitable[Any]]


class ToolSpec:
    def __init__(
        self, name: str, description: str, arguments: type[BaseModel], handler: Handler
    ) -> None:
        self.name = name
        self.arguments = arguments
        self.handler = handler
        self.tool = mcp_types.Tool(
            name=name, description=description, input_schema=arguments.model_json_schema()
        )


async def _permission(service: Service, by: Principal, args: Any, base: str) -> str:
    return await tools.permission_prompt(service, by, args)


TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        ToolSpec(
            "ask_human",
            "Ask a person a question and wait for the answer (it arrives in their inbox, "
            "assigned to the given users or groups, with a deadline). Returns {request_id, "
            "status, response}; status 'pending' means no answer yet: call get_answer with "
            "the request_id later.",
            tools.AskHuman,
            tools.ask_human,
        ),
        ToolSpec(
            "request_approval",
            "Ask a person to approve an action before doing it. Returns {request_id, status, "
            "response: {approved, comment}}; status 'pending': call get_answer later. Do not "
            "act unless response.approved is true.",
            tools.RequestApproval,
            tools.request_approval,
        ),
        ToolSpec(
            "get_answer",
            "The answer to an earlier ask_human or request_approval, waiting a while for it: "
            "{request_id, status: answered | pending | expired | cancelled, response}.",
            tools.GetAnswer,
            tools.get_answer,
        ),
        ToolSpec(
            "permission_prompt",
            "For Claude Code's --permission-prompt-tool: asks a person whether the agent may "
            "use tool_name with input; answers {behavior: allow, updatedInput} or "
            "{behavior: deny, message} as JSON text.",
            tools.PermissionPrompt,
            _permission,
        ),
    )
}


async def _list_tools(
    ctx: ServerRequestContext[Any, Any], params: mcp_types.PaginatedRequestParams | None
) -> mcp_types.ListToolsResult:
    return mcp_types.ListToolsResult(tools=[spec.tool for spec in TOOLS.values()])


async def _call_tool(
    ctx: ServerRequestContext[Any, Any], params: mcp_types.CallToolRequestParams
) -> mcp_types.CallToolResult:
    spec = TOOLS.get(params.name)
    if spec is None:
        return _error(f"no tool {params.name!r}; the tools are {', '.join(TOOLS)}")
    http = ctx.request
    if not isinstance(http, HTTPRequest) or "principal" not in http.scope:
        return _error("this server answers only over its HTTP route, /mcp")
    principal: Principal = http.scope["principal"]
    service: Service = http.app.state.service
    try:
        args = spec.arguments.model_validate(params.arguments or {})
    except ValidationError as exc:
        problems = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        return _error(errors.describe(problems))
    try:
        found = await spec.handler(service, principal, args, service.settings.link_base)
    except errors.HITLError as exc:
        return _error(errors.describe(_readable(exc.detail)))
    if isinstance(found, str):
        return mcp_types.CallToolResult(content=[mcp_types.TextContent(type="text", text=found)])
    return mcp_types.CallToolResult(
        content=[mcp_types.TextContent(type="text", text=json.dumps(found, default=str))],
        structured_content=json.loads(json.dumps(found, default=str)),
    )


def _readable(detail: Any) -> Any:
    """A detail as `errors.describe` takes it (a 409's ``{msg, state}`` as its message)."""
    return detail["msg"] if isinstance(detail, dict) and "msg" in detail else detail


def _error(text: str) -> mcp_types.CallToolResult:
    return mcp_types.CallToolResult(
        content=[mcp_types.TextContent(type="text", text=text)], is_error=True
    )


def server() -> Server[Any]:
    return Server(
        "hitl",
        title="HITL: ask a person",
        instructions="Ask people questions and for approvals; they answer in the HITL inbox.",
        on_list_tools=_list_tools,
        on_call_tool=_call_tool,
    )


class _Exchange(Response):
    """The rest of the HTTP exchange, handed to an ASGI app (the SDK's session manager)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


router = APIRouter(tags=["mcp"])


@router.post(PATH, include_in_schema=False)
async def mcp_endpoint(request: HTTPRequest, _: CanWriteRequests) -> Response:
    """MCP over Streamable HTTP (stateless: a GET stream is 405, as the transport allows)."""
    manager: StreamableHTTPSessionManager = request.app.state.mcp_sessions
    return _Exchange(manager.handle_request)


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[None]:
    """The MCP session manager for the app's lifetime (one per start: it runs once)."""
    manager = StreamableHTTPSessionManager(
        app=server(),
        json_response=True,
        stateless=True,
        security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    app.state.mcp_sessions = manager
    started, stop = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        # The manager's task group is entered and left in this task of its own: the app's
        # lifespan may be left from another task than the one it was entered in.
        async with manager.run():
            started.set()
            await stop.wait()

    task = asyncio.create_task(hold(), name="hitl-mcp")
    ready = asyncio.create_task(started.wait())
    await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        ready.cancel()
        task.result()  # it failed to start: raise why
    try:
        yield
    finally:
        stop.set()
        await task


def install(app: FastAPI) -> None:
    app.include_router(router)
