"""Claude Code's permission prompts as requests: the shape of ``--permission-prompt-tool``.

Claude Code calls the tool with the tool it wants to use and that tool's input
(``{"tool_name": "Bash", "input": {"command": "rm -rf build"}, "tool_use_id": "..."}``) and
reads the result's text as JSON: ``{"behavior": "allow", "updatedInput": {...}}`` (the input
to run, possibly edited by the reviewer) or ``{"behavior": "deny", "message": "..."}`` (told to
the model). Here the question becomes an ordinary request whose form asks for that decision;
`decision` turns the request, however it ended, into Claude Code's answer. Pure functions:
`hitl.mcp_server.tools` does the I/O.
"""

from __future__ import annotations

import json
from typing import Any, Final, Literal, TypedDict

from hitl.models import Request

#: What the reviewer answers (the form is generated from it).
RESPONSE_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "title": "Permission",
    "properties": {
        "behavior": {
            "type": "string",
            "enum": ["allow", "deny"],
            "title": "Decision",
            "description": "Allow the tool call, or deny it.",
        },
        "message": {
            "type": "string",
            "title": "Message",
            "description": "Why (on deny, the agent is told this).",
        },
        "updatedInput": {
            "type": "object",
            "title": "Edited input",
            "description": "The input to run instead (on allow; leave out to run it as asked).",
        },
    },
    "required": ["behavior"],
}


class Allow(TypedDict):
    behavior: Literal["allow"]
    updatedInput: dict[str, Any]


class Deny(TypedDict):
    behavior: Literal["deny"]
    message: str


def title(tool_name: str, tool_input: dict[str, Any]) -> str:
    """A headline for the inbox: the tool, and its command or path when it has one."""
    detail = next(
        (str(tool_input[k]) for k in ("command", "file_path", "path", "url") if k in tool_input),
        "",
    )
    line = f"Allow {tool_name}" + (f": {detail}" if detail else "?")
    return line if len(line) <= 500 else line[:499] + "…"


def context(tool_name: str, tool_input: dict[str, Any], tool_use_id: str | None) -> dict[str, Any]:
    """What the reviewer is shown."""
    shown: dict[str, Any] = {"tool_name": tool_name, "input": tool_input}
    if tool_use_id:
        shown["tool_use_id"] = tool_use_id
    return shown


def decision(request: Request, tool_input: dict[str, Any]) -> Allow | Deny:
    """Claude Code's answer for ``request`` as it stands: the reviewer's decision once
    answered; a denial naming the reason otherwise (expired, withdrawn, still pending)."""
    response = request.response if isinstance(request.response, dict) else {}
    if request.state in ("responded", "resumed") and response.get("behavior") == "allow":
        edited = response.get("updatedInput")
        return {
            "behavior": "allow",
            "updatedInput": edited if isinstance(edited, dict) else tool_input,
        }
    if request.state in ("responded", "resumed"):
        message = response.get("message") or f"denied by {request.responded_by}"
        return {"behavior": "deny", "message": str(message)}
    reasons = {
        "expired": "no decision before the request's deadline",
        "cancelled": "the request was withdrawn",
        "pending": "no decision in time; the request was withdrawn",
    }
    why = reasons.get(request.state, f"the request is {request.state}")
    return {"behavior": "deny", "message": f"{why} (request {request.id})"}


def as_text(answer: Allow | Deny) -> str:
    """The tool result's text: the JSON Claude Code parses."""
    return json.dumps(answer)
