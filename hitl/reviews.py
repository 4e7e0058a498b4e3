"""Tool-call reviews: interrupts that ask a person to decide on an agent's actions, recognised in
an interrupt's value, and the answers to them checked before they are stored.

- langchain's ``HumanInTheLoopMiddleware`` (batched mode): the value is
  ``{"action_requests": [{name, args, description?}], "review_configs": [{action_name,
  allowed_decisions, args_schema?}]}`` and the run resumes with ``{"decisions": [...]}``, one
  per action, in order: ``{"type": "approve"}``, ``{"type": "edit", "edited_action": {"name",
  "args"}}``, ``{"type": "reject", "message"?}``, ``{"type": "respond", "message"}``.
- Agent Inbox: the value is ``[HumanInterrupt]`` (``{action_request: {action, args}, config:
  {allow_accept, allow_edit, allow_respond, allow_ignore}, description}``) and the run resumes
  with ``[HumanResponse]``, one per interrupt: ``{"type": "accept" | "ignore", "args"?}``,
  ``{"type": "edit", "args": {"action", "args"}}``, ``{"type": "response", "args": "text"}``.

Such a value has no response schema, and the graph checks the answer only once it resumes: the
middleware raises on a count that does not match or a decision its config does not allow, and a
graph reading an edit's ``args`` fails on a string. `check_answer` refuses those answers first,
so the answer path (`hitl.requests`) gives a 422 naming the field through every door, and the
request stays pending. (``per_call`` mode's ``tool_approval`` value carries its own response
schema, which checks its answers.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hitl import errors
from hitl.validation import ErrorList, check_schema, schema_errors

Shape = Literal["middleware", "agent_inbox"]
Loc = tuple[str | int, ...]

#: The middleware's decisions; those allowed when a config names none (as the web form offers).
MIDDLEWARE_DECISIONS = ("approve", "edit", "reject", "respond")
MIDDLEWARE_DEFAULT = ["approve", "reject"]
#: Agent Inbox's responses, each with the config flag that allows it.
INBOX_FLAGS = (
    ("accept", "allow_accept"),
    ("edit", "allow_edit"),
    ("response", "allow_respond"),
    ("ignore", "allow_ignore"),
)


@dataclass(frozen=True)
class Action:
    """One action under review: what the agent wants to do, and what a person may decide."""

    name: str
    allowed: list[str]
    args_schema: dict[str, Any] | None = None  # the middleware's review config may carry one


@dataclass(frozen=True)
class Review:
    shape: Shape
    actions: list[Action]


def shape_of(value: Any) -> Shape | None:
    if (
        isinstance(value, Mapping)
        and isinstance(value.get("action_requests"), list)
        and isinstance(value.get("review_configs"), list)
        and all(isinstance(a, Mapping) for a in value["action_requests"])
    ):
        return "middleware"
    if (
        isinstance(value, list)
        and value
        and all(
            isinstance(v, Mapping) and isinstance(v.get("action_request"), Mapping) for v in value
        )
    ):
        return "agent_inbox"
    return None


def parse(value: Any) -> Review | None:
    """The review ``value`` asks for, or None if it is not one."""
    shape = shape_of(value)
    if shape == "middleware":
        configs = {
            str(c.get("action_name")): c for c in value["review_configs"] if isinstance(c, Mapping)
        }
        actions = []
        for a in value["action_requests"]:
            name = str(a.get("name"))
            config = configs.get(name, {})
            given = config.get("allowed_decisions")
            allowed = [str(d) for d in given] if isinstance(given, list) else MIDDLEWARE_DEFAULT
            schema = config.get("args_schema")
            usable = isinstance(schema, dict) and not check_schema(schema, ())
            actions.append(Action(name, allowed, schema if usable else None))
        return Review(shape, actions)
    if shape == "agent_inbox":
        actions = []
        for item in value:
            config = item.get("config")
            if isinstance(config, Mapping):
                allowed = [d for d, flag in INBOX_FLAGS if config.get(flag)]
            else:  # no config to say: any response
                allowed = [d for d, _ in INBOX_FLAGS]
            actions.append(Action(str(item["action_request"].get("action")), allowed))
        return Review(shape, actions)
    return None


def check_answer(review: Review, value: Any, loc: Loc) -> None:
    """Raise `errors.ResponseInvalid` naming each field of ``value`` that does not answer the
    review: not one decision per action, a decision the action's config does not allow, an
    edit without a name and an object of arguments (or with arguments its schema refuses), a
    response without its message."""
    problems: ErrorList = []
    if review.shape == "middleware":
        decisions = value.get("decisions") if isinstance(value, Mapping) else None
        if not isinstance(value, Mapping):
            problems.append(_error(loc, 'must be an object: {"decisions": [...]}', "type"))
        elif not isinstance(decisions, list):
            problems.append(
                _error((*loc, "decisions"), "must be a list: one decision per action", "type")
            )
        else:
            problems += _each(review, decisions, (*loc, "decisions"), _decision_errors)
    elif not isinstance(value, list):
        problems.append(_error(loc, "must be a list: one response per action", "type"))
    else:
        problems += _each(review, value, loc, _response_errors)
    if problems:
        raise errors.ResponseInvalid(problems)


def _each(review: Review, answers: list[Any], loc: Loc, check: Any) -> ErrorList:
    if len(answers) != len(review.actions):
        what = "decision" if review.shape == "middleware" else "response"
        names = ", ".join(a.name for a in review.actions)
        msg = f"give one {what} per action, in order: {len(review.actions)} ({names}), "
        return [_error(loc, msg + f"not {len(answers)}", "length")]
    found: ErrorList = []
    for i, (action, answer) in enumerate(zip(review.actions, answers, strict=True)):
        found += check(action, answer, (*loc, i))
    return found


def _kind(action: Action, answer: Any, loc: Loc) -> tuple[str | None, ErrorList]:
    if not isinstance(answer, Mapping):
        return None, [_error(loc, "must be an object with a type", "type")]
    kind = answer.get("type")
    if kind not in action.allowed:
        allowed = ", ".join(action.allowed) or "none"
        msg = f"must be one of: {allowed} (what {action.name!r} allows)"
        return None, [_error((*loc, "type"), msg, "enum")]
    return str(kind), []


def _decision_errors(action: Action, decision: Any, loc: Loc) -> ErrorList:
    kind, found = _kind(action, decision, loc)
    if kind is None:
        return found
    if kind == "edit":
        edited = decision.get("edited_action")
        at = (*loc, "edited_action")
        if not isinstance(edited, Mapping):
            return [_error(at, "an edit carries the action to run: {name, args}", "missing")]
        name, args = edited.get("name"), edited.get("args")
        if not isinstance(name, str) or not name:
            found.append(_error((*at, "name"), "must be the name of the tool to run", "type"))
        if not isinstance(args, Mapping):
            found.append(_error((*at, "args"), "must be an object: the tool's arguments", "type"))
        elif action.args_schema is not None:
            found += schema_errors(action.args_schema, args, (*at, "args"))
    elif kind in ("reject", "respond"):
        message = decision.get("message")
        if kind == "respond" and (not isinstance(message, str) or not message.strip()):
            found.append(_error((*loc, "message"), "write the response", "missing"))
        elif message is not None and not isinstance(message, str):
            found.append(_error((*loc, "message"), "must be text", "type"))
    return found


def _response_errors(action: Action, response: Any, loc: Loc) -> ErrorList:
    kind, found = _kind(action, response, loc)
    if kind is None:
        return found
    args = response.get("args")
    if kind == "edit":
        if not isinstance(args, Mapping):
            return [_error((*loc, "args"), "an edit carries the action: {action, args}", "type")]
        if not isinstance(args.get("action"), str) or not args["action"]:
            found.append(_error((*loc, "args", "action"), "must be the action's name", "type"))
        if not isinstance(args.get("args"), Mapping):
            msg = "must be an object: the action's arguments"
            found.append(_error((*loc, "args", "args"), msg, "type"))
    elif kind == "response" and (not isinstance(args, str) or not args.strip()):
        found.append(_error((*loc, "args"), "write the response", "missing"))
    return found


def _error(loc: Loc, msg: str, kind: str = "value") -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": kind}
