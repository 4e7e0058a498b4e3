"""MCP elicitation interrupts: an MCP server asking a person for input in the middle of a tool
call, recognised in an interrupt's value, and the answers to it checked before they are stored.

langchain's MCP adapter (``langchain.mcp``) answers a server's elicitation with a LangGraph
``interrupt()``. Its value holds every question of the round, each under the server's key::

    {"type": "mcp_elicitation", "tool_name": "book_table",
     "requests": [{"key": "k", "mode": "form", "message": "...", "requested_schema": {...}},
                  {"key": "u", "mode": "url", "message": "...", "url": "https://..."}]}

and the run resumes with one response per key::

    {"responses": {"k": {"action": "accept", "content": {...}},
                   "u": {"action": "decline"}}}            # or {"action": "cancel"}

A value that is one question (``{"type": "mcp_elicitation", "mode", "server"?, "message",
"response_schema" | "url"}``) is resumed with that one response, bare.

An accepted form carries ``content`` that must satisfy the question's flat schema (MCP allows
strings, numbers, booleans and enums at the top level only); an accepted URL question, a
decline and a cancel carry none. Such a request has no response schema of its own, so
`check_answer` is what the answer path (`hitl.requests`) validates it with, for every door.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from hitl import errors
from hitl.validation import ErrorList, check_schema, schema_errors

TYPE = "mcp_elicitation"
ACTIONS = ("accept", "decline", "cancel")

Mode = Literal["form", "url"]
Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Question:
    """One thing the server asks: a form to fill or a page to visit."""

    key: str | None  # the server's key for it; None when the value is this one question
    mode: Mode
    message: str
    schema: dict[str, Any] | None  # form mode: what ``content`` must satisfy
    url: str | None  # url mode: where the person goes (shown, never fetched)

    @property
    def at(self) -> Loc:
        """Where this question's response sits in the answer."""
        return () if self.key is None else ("responses", self.key)


@dataclass(frozen=True)
class Elicitation:
    tool_name: str | None
    server: str | None
    questions: list[Question]


def parse(value: Any) -> Elicitation | None:
    """The elicitation ``value`` asks, or None if it is not one (or is malformed: then it is
    shown and answered like any other value)."""
    if not (isinstance(value, Mapping) and value.get("type") == TYPE):
        return None
    tool = value.get("tool_name")
    server = value.get("server")
    tool_name = tool if isinstance(tool, str) else None
    server_name = server if isinstance(server, str) else None
    if "requests" in value:
        items = value["requests"]
        if not (isinstance(items, list) and items):
            return None
        questions = [_question(item, keyed=True) for item in items]
        keys = [q.key for q in questions if q is not None]
        if len(keys) != len(items) or len(set(keys)) != len(keys):
            return None
        return Elicitation(tool_name, server_name, [q for q in questions if q is not None])
    question = _question(value, keyed=False)
    return None if question is None else Elicitation(tool_name, server_name, [question])


def _question(item: Any, *, keyed: bool) -> Question | None:
    if not isinstance(item, Mapping):
        return None
    key = item.get("key")
    message = item.get("message")
    if (keyed and not isinstance(key, str)) or not isinstance(message, str):
        return None
    if item.get("mode") == "form":
        schema = item.get("requested_schema", item.get("response_schema"))
        if not _usable(schema):
            return None
        return Question(key if keyed else None, "form", message, schema, None)
    if item.get("mode") == "url" and isinstance(item.get("url"), str):
        return Question(key if keyed else None, "url", message, None, item["url"])
    return None


def _usable(schema: Any) -> bool:
    """Whether ``schema`` is an object schema the service can build a form from and check
    answers against. It comes from an MCP server, not from the graph's author: one that is not
    (``{"properties": 3}``) makes the value an ordinary one, shown as it is."""
    return (
        isinstance(schema, dict)
        and schema.get("type", "object") == "object"
        and isinstance(schema.get("properties", {}), dict)
        and not check_schema(schema, ())
    )


def answer(elicitation: Elicitation, responses: list[dict[str, Any]]) -> Any:
    """The resume value for one response per question, in the questions' order."""
    [first, *_] = elicitation.questions
    if first.key is None:
        return responses[0]
    return {"responses": {q.key: r for q, r in zip(elicitation.questions, responses, strict=True)}}


def check_answer(elicitation: Elicitation, value: Any, loc: Loc) -> None:
    """Raise `errors.ResponseInvalid` naming each field of ``value`` that does not answer the
    elicitation: a missing or unknown key, an action that is not one of `ACTIONS`, content
    where none belongs, or content that breaks the question's schema."""
    problems: ErrorList = []
    [first, *_] = elicitation.questions
    if first.key is None:
        problems += _response_errors(first, value, loc)
    elif not isinstance(value, Mapping):
        problems.append(_error(loc, "must be an object with the responses, by key", "type"))
    else:
        extra = sorted(set(value) - {"responses"})
        if extra:
            problems.append(_error((*loc, extra[0]), "is not part of an answer", "extra"))
        responses = value.get("responses")
        if not isinstance(responses, Mapping):
            problems.append(
                _error((*loc, "responses"), "must be an object: one response per key", "type")
            )
        else:
            keys = {q.key for q in elicitation.questions}
            for unknown in sorted(k for k in responses if k not in keys):
                problems.append(_error((*loc, "responses", unknown), "no question has this key"))
            for q in elicitation.questions:
                if q.key not in responses:
                    problems.append(_error((*loc, *q.at), "answer this question", "missing"))
                else:
                    problems += _response_errors(q, responses[q.key], (*loc, *q.at))
    if problems:
        raise errors.ResponseInvalid(problems)


def _response_errors(question: Question, response: Any, loc: Loc) -> ErrorList:
    if not isinstance(response, Mapping):
        return [_error(loc, "must be an object with an action", "type")]
    action = response.get("action")
    if action not in ACTIONS:
        return [_error((*loc, "action"), "must be one of accept, decline, cancel", "enum")]
    extra = sorted(set(response) - {"action", "content"})
    if extra:
        return [_error((*loc, extra[0]), "is not part of a response", "extra")]
    content = response.get("content")
    if action != "accept" or question.mode == "url":
        if content is not None:
            why = "a page visited" if question.mode == "url" else f"a response to {action}"
            return [_error((*loc, "content"), f"{why} carries no content", "extra")]
        return []
    if not isinstance(content, Mapping):
        return [_error((*loc, "content"), "an accepted form carries its content", "missing")]
    return schema_errors(question.schema or {}, content, (*loc, "content"))


def _error(loc: Loc, msg: str, kind: str = "value") -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": kind}


@dataclass(frozen=True)
class Link:
    """A URL question's address, as a person should read it before following it."""

    href: str | None  # None: not http(s), shown as text and never as a link
    host: str  # the host it leads to (in ASCII, so a look-alike name shows as what it is)
    before: str  # the text of the address before the host
    after: str  # and after it


def link(url: str) -> Link:
    """``url`` split around its host, for showing with the host emphasised. Only an http(s)
    address becomes a link (never ``javascript:`` or ``data:``)."""
    parts = urlsplit(url.strip())
    try:
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # a port that is not a number
        return Link(None, "", url, "")
    try:
        shown = host.encode("idna").decode("ascii")
    except UnicodeError:
        shown = host
    if parts.scheme not in ("http", "https") or not host:
        return Link(None, shown, url, "")
    userinfo = parts.netloc.rpartition("@")[0]
    before = f"{parts.scheme}://" + (f"{userinfo}@" if userinfo else "")
    after = (f":{port}" if port is not None else "") + parts.path
    after += f"?{parts.query}" if parts.query else ""
    after += f"#{parts.fragment}" if parts.fragment else ""
    return Link(url.strip(), shown, before, after)
