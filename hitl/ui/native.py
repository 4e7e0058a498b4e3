"""Interrupt values in well-known shapes, shown as action cards and answered in their own shape.

- langchain's ``HumanInTheLoopMiddleware`` (batched mode): the value is
  ``{"action_requests": [{name, args, description?}], "review_configs": [{action_name,
  allowed_decisions}]}``; the answer is ``{"decisions": [...]}``, one per action, in order:
  ``{"type": "approve"}``, ``{"type": "edit", "edited_action": {"name", "args"}}``,
  ``{"type": "reject", "message"?}``, ``{"type": "respond", "message"}``.
- Agent Inbox: the value is ``[HumanInterrupt]`` (``{action_request: {action, args}, config:
  {allow_accept, allow_edit, allow_respond, allow_ignore}, description}``); the answer is
  ``[HumanResponse]``: ``{"type": "accept" | "ignore", "args": null}``,
  ``{"type": "edit", "args": {"action", "args"}}``, ``{"type": "response", "args": "text"}``.

The form names its controls ``card.<i>.type``, ``card.<i>.args.<name>``, ``card.<i>.message``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hitl import errors
from hitl.ui.forms import FormData

Shape = Literal["middleware", "agent_inbox"]

# Decisions whose card shows the arguments as editable inputs, and those that take a message.
EDITS = {"edit"}
MESSAGES = {"reject": False, "respond": True, "response": True}  # decision -> message required
LABELS = {
    "approve": "Approve",
    "accept": "Accept",
    "edit": "Edit, then run",
    "reject": "Reject",
    "respond": "Respond instead of running",
    "response": "Respond",
    "ignore": "Ignore",
}


@dataclass
class Arg:
    name: str
    text: str  # the value as the input shows it
    is_text: bool  # a string (sent as typed) rather than JSON


@dataclass
class Card:
    index: int
    name: str
    description: str | None
    args: list[Arg] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return f"card.{self.index}"


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


def cards(value: Any) -> list[Card]:
    shape = shape_of(value)
    if shape == "middleware":
        allowed = {
            str(c.get("action_name")): [str(d) for d in c.get("allowed_decisions") or []]
            for c in value["review_configs"]
            if isinstance(c, Mapping)
        }
        return [
            Card(
                i,
                str(a.get("name")),
                a.get("description") if isinstance(a.get("description"), str) else None,
                _args(a.get("args")),
                allowed.get(str(a.get("name")), ["approve", "reject"]),
            )
            for i, a in enumerate(value["action_requests"])
        ]
    if shape == "agent_inbox":
        out = []
        for i, item in enumerate(value):
            config = item.get("config") if isinstance(item.get("config"), Mapping) else {}
            flags = [
                ("accept", "allow_accept"),
                ("edit", "allow_edit"),
                ("response", "allow_respond"),
                ("ignore", "allow_ignore"),
            ]
            action = item["action_request"]
            description = item.get("description")
            out.append(
                Card(
                    i,
                    str(action.get("action")),
                    description if isinstance(description, str) else None,
                    _args(action.get("args")),
                    [d for d, flag in flags if config.get(flag)],
                )
            )
        return out
    return []


def _args(args: Any) -> list[Arg]:
    if not isinstance(args, Mapping):
        return []
    return [
        Arg(str(k), v if isinstance(v, str) else json.dumps(v), isinstance(v, str))
        for k, v in args.items()
    ]


def initial_values(value: Any) -> dict[str, list[str]]:
    """Each argument input starts with the agent's value."""
    out: dict[str, list[str]] = {}
    for card in cards(value):
        for arg in card.args:
            out[f"{card.prefix}.args.{arg.name}"] = [arg.text]
    return out


def answer_from_form(value: Any, form: FormData) -> Any:
    """The answer in the shape's own format; `errors.ResponseInvalid` names what is missing."""
    shape = shape_of(value)
    problems: list[dict[str, Any]] = []
    answers = []
    for card in cards(value):
        decision = _first(form, f"{card.prefix}.type")
        loc: list[str | int] = ["body", "response", "card", card.index]
        if decision not in card.decisions:
            problems.append({"loc": [*loc, "type"], "msg": "choose a decision", "type": "missing"})
            continue
        message = (_first(form, f"{card.prefix}.message") or "").strip()
        if MESSAGES.get(decision) and not message:
            problems.append({"loc": [*loc, "message"], "msg": "write a message", "type": "missing"})
            continue
        args = _edited_args(card, form) if decision in EDITS else None
        answers.append(_decision(shape, card, decision, message, args))
    if problems:
        raise errors.ResponseInvalid(problems)
    return {"decisions": answers} if shape == "middleware" else answers


def _edited_args(card: Card, form: FormData) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for arg in card.args:
        text = _first(form, f"{card.prefix}.args.{arg.name}") or ""
        if arg.is_text:
            args[arg.name] = text
        else:
            try:
                args[arg.name] = json.loads(text)
            except ValueError:
                args[arg.name] = text
    return args


def _decision(
    shape: Shape | None, card: Card, decision: str, message: str, args: dict[str, Any] | None
) -> dict[str, Any]:
    if shape == "middleware":
        if decision == "edit":
            return {"type": "edit", "edited_action": {"name": card.name, "args": args}}
        if decision in MESSAGES and message:
            return {"type": decision, "message": message}
        return {"type": decision}
    if decision == "edit":
        return {"type": "edit", "args": {"action": card.name, "args": args}}
    if decision == "response":
        return {"type": "response", "args": message}
    return {"type": decision, "args": None}


def _first(form: FormData, name: str) -> str | None:
    got = form.get(name)
    if got is None or isinstance(got, str):
        return got
    return got[0] if got else None
