"""What a request is called: its headline, preview and title, from the value an agent gave.

Pure functions on plain values (no UI, no I/O): the web UI shows them and notifications (email,
Slack) use them, so a request is called the same wherever a person meets it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

PREVIEW_CHARS = 90
# A value's ``kind`` that names what is asked (``deploy_approval``), not free text.
_KIND = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[_\-. ][A-Za-z0-9]+)*")


def headline(value: Any) -> str:
    """A one-line title for a request: its ``title``, ``summary``, ``question`` or `label`
    (of its ``kind``), else a preview."""
    if isinstance(value, Mapping):
        for key in ("title", "summary", "question"):
            if isinstance(value.get(key), str) and value[key].strip():
                return clip(value[key])
        if label(value) is not None and "kind" in value:
            return str(label(value))
        if isinstance(value.get("kind"), str) and value["kind"].strip():
            return clip(value["kind"])
        if isinstance(value.get("action_requests"), list) and value["action_requests"]:
            names = ", ".join(str(a.get("name")) for a in value["action_requests"][:3])
            return clip(f"Review tool call: {names}")
        if value.get("type") == "tool_approval":
            return clip(f"Review tool call: {value.get('name')}")
        if value.get("type") == "mcp_elicitation" and (asked := _elicitation_message(value)):
            return clip(asked)
    if isinstance(value, list) and value and isinstance(value[0], Mapping):
        action = value[0].get("action_request")
        if isinstance(action, Mapping):
            return clip(str(value[0].get("description") or f"Review: {action.get('action')}"))
    return preview(value)


def _elicitation_message(value: Mapping[str, Any]) -> str | None:
    """What an MCP elicitation asks first (`hitl.elicitation`): its message, or its first
    question's."""
    message = value.get("message")
    questions = value.get("requests")
    if not isinstance(message, str) and isinstance(questions, list) and questions:
        first = questions[0]
        message = first.get("message") if isinstance(first, Mapping) else None
    return message if isinstance(message, str) and message.strip() else None


def label(value: Any) -> str | None:
    """What kind of question it is, for people: ``deploy_approval`` -> "Deploy approval".

    Two requests of one thread often share a title (the change they are about); the label
    tells the review from the deploy approval in the inbox and the timeline. From the value's
    ``kind``, or "Tool call review" for langchain's and Agent Inbox's shapes, "Tool input" for an
    MCP elicitation; None otherwise.
    """
    if isinstance(value, Mapping):
        kind = value.get("kind")
        if isinstance(kind, str) and len(kind) <= 40 and _KIND.fullmatch(kind):
            words = re.sub(r"[_\-. ]+", " ", kind).strip().lower()
            return words[:1].upper() + words[1:]
        if isinstance(value.get("action_requests"), list) or value.get("type") == "tool_approval":
            return "Tool call review"
        if value.get("type") == "mcp_elicitation":
            return "Tool input"
    if isinstance(value, list) and value and isinstance(value[0], Mapping):
        if isinstance(value[0].get("action_request"), Mapping):
            return "Tool call review"
    return None


def subline(value: Any) -> str | None:
    """A second line for the inbox: the ``summary`` when the headline was the title."""
    if isinstance(value, Mapping) and isinstance(value.get("title"), str):
        summary = value.get("summary") or value.get("description")
        if isinstance(summary, str) and summary.strip():
            return clip(summary)
    return None


def preview(value: Any) -> str:
    """The value as one clipped line of text (JSON unless it is a string)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return clip(text)


def clip(text: str) -> str:
    """``text`` on one line, cut to `PREVIEW_CHARS` with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def request_title(request: Any) -> str:
    """The title a person sees: the request's own (external requests have one), else the
    headline of what it asks."""
    own = getattr(request, "title", None)
    return clip(own) if isinstance(own, str) and own.strip() else headline(request.value)
