"""Interrupt values in well-known shapes, shown as action cards and answered in their own shape.

- langchain's ``HumanInTheLoopMiddleware`` (batched mode): the value is
  ``{"action_requests": [{name, args, description?}], "review_configs": [{action_name,
  allowed_decisions}]}``; the answer is ``{"decisions": [...]}``, one per action, in order:
  ``{"type": "approve"}``, ``{"type": "edit", "edited_action": {"name", "args"}}``,
  ``{"type": "reject", "message"?}``, ``{"type": "respond", "message"}``.
- langchain's ``HumanInTheLoopMiddleware`` in ``per_call`` mode: one interrupt per tool call,
  ``{"type": "tool_approval", "tool_call_id", "name", "args", "description"}``, whose response
  schema is a tagged union of the decisions allowed (the edit's ``args`` follow the tool's own
  argument schema); the answer is one decision, as above, not a list. It gets the same card.
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

from hitl import errors, reviews
from hitl.ui.forms import FormData

Shape = Literal["middleware", "tool_approval", "agent_inbox"]

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
    given: bool = True  # the agent gave it (else an optional argument of the tool's schema)


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


def shape_for(value: Any, schema: Mapping[str, Any] | None) -> Shape | None:
    """The shape the request page shows ``value`` in: a per-call tool approval with its
    schema (which says the decisions allowed), the others only when there is no schema."""
    shape = shape_of(value)
    return shape if shape == "tool_approval" or not schema else None


def shape_of(value: Any) -> Shape | None:
    if (
        isinstance(value, Mapping)
        and value.get("type") == "tool_approval"
        and isinstance(value.get("name"), str)
        and isinstance(value.get("args"), Mapping)
    ):
        return "tool_approval"
    return reviews.shape_of(value)


def cards(value: Any, schema: Mapping[str, Any] | None = None) -> list[Card]:
    shape = shape_of(value)
    if shape == "tool_approval":
        description = value.get("description")
        args_schema = _edit_args_schema(schema)
        args = _args(value["args"])
        for name, prop in _properties(args_schema).items():
            if name not in value["args"] and isinstance(prop, Mapping):
                args.append(Arg(str(name), "", prop.get("type") == "string", given=False))
        return [
            Card(
                0,
                value["name"],
                description if isinstance(description, str) and description else None,
                args,
                decisions_allowed(schema),
            )
        ]
    review = reviews.parse(value)
    if review is None:
        return []
    # the decisions each card offers are those the answer path accepts (`hitl.reviews`)
    items = value["action_requests"] if review.shape == "middleware" else value
    out = []
    for i, (item, action) in enumerate(zip(items, review.actions, strict=True)):
        request = item if review.shape == "middleware" else item["action_request"]
        description = item.get("description")
        out.append(
            Card(
                i,
                action.name,
                description if isinstance(description, str) and description else None,
                _args(request.get("args")),
                action.allowed,
            )
        )
    return out


def _branches(schema: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The decision objects a per-call response schema allows, ``$ref`` s resolved."""
    if not schema:
        return []
    union = schema.get("oneOf") or schema.get("anyOf") or [schema]
    if not isinstance(union, list):
        return []
    return [b for b in (_deref(schema, b) for b in union if isinstance(b, Mapping)) if b]


def _deref(root: Mapping[str, Any], node: Any) -> Mapping[str, Any]:
    for _ in range(8):  # a $ref to a $ref, but never without end
        if not (isinstance(node, Mapping) and isinstance(node.get("$ref"), str)):
            break
        node = _lookup(root, node["$ref"])
    return node if isinstance(node, Mapping) else {}


def _lookup(root: Mapping[str, Any], ref: str) -> Any:
    node: Any = root
    for part in ref.removeprefix("#").strip("/").split("/"):
        node = node.get(part) if isinstance(node, Mapping) and part else node
    return node


def _properties(node: Mapping[str, Any]) -> Mapping[str, Any]:
    found = node.get("properties")
    return found if isinstance(found, Mapping) else {}


def _tag(branch: Mapping[str, Any]) -> str | None:
    kind = _properties(branch).get("type")
    if isinstance(kind, Mapping):
        if isinstance(kind.get("const"), str):
            return str(kind["const"])
        if isinstance(kind.get("enum"), list) and len(kind["enum"]) == 1:
            return str(kind["enum"][0])
    return None


def decisions_allowed(schema: Mapping[str, Any] | None) -> list[str]:
    """The decisions a per-call response schema allows, in its order (approve and reject when
    it names none)."""
    tags = [t for t in (_tag(b) for b in _branches(schema)) if t is not None]
    return tags or ["approve", "reject"]


def _edit_args_schema(schema: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The tool's argument schema, from the edit decision of a per-call response schema."""
    for branch in _branches(schema):
        if _tag(branch) == "edit" and schema is not None:
            action = _deref(schema, _properties(branch).get("edited_action"))
            return _deref(schema, _properties(action).get("args"))
    return {}


def _args(args: Any) -> list[Arg]:
    if not isinstance(args, Mapping):
        return []
    return [
        Arg(str(k), v if isinstance(v, str) else json.dumps(v), isinstance(v, str))
        for k, v in args.items()
    ]


def initial_values(value: Any, schema: Mapping[str, Any] | None = None) -> dict[str, list[str]]:
    """Each argument input starts with the agent's value."""
    out: dict[str, list[str]] = {}
    for card in cards(value, schema):
        for arg in card.args:
            out[f"{card.prefix}.args.{arg.name}"] = [arg.text]
    return out


def answer_from_form(value: Any, form: FormData, schema: Mapping[str, Any] | None = None) -> Any:
    """The answer in the shape's own format; `errors.ResponseInvalid` names what is missing."""
    shape = shape_of(value)
    problems: list[dict[str, Any]] = []
    answers = []
    for card in cards(value, schema):
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
    if shape == "tool_approval":
        return answers[0]
    return {"decisions": answers} if shape == "middleware" else answers


def place_errors(
    shape: Shape, problems: list[dict[str, Any]]
) -> tuple[dict[str, list[str]], list[str]]:
    """Each problem next to its card's control (``card.<i>.type``, ``.message``,
    ``.args.<name>``), and those that belong to none. A per-call answer is one decision, so
    its errors (``["body", "response", "edited_action", "args", "amount"]``) are card 0's."""
    placed: dict[str, list[str]] = {}
    loose = []
    for p in problems:
        loc = [str(x) for x in p.get("loc", [])]
        if loc[:2] == ["body", "response"]:
            loc = ["body", "response", *_card_loc(shape, loc[2:])]
        if loc[2:3] == ["card"] and len(loc) >= 5:
            name = ".".join(loc[2:6] if loc[4:5] == ["args"] else loc[2:5])
            placed.setdefault(name, []).append(str(p.get("msg")))
        else:
            loose.append(str(p.get("msg")))
    return placed, loose


def _card_loc(shape: Shape, rest: list[str]) -> list[str]:
    """Where in the answer (``rest``, after ``body.response``) as where on the form: the
    answer path names the answer's own fields (``decisions.1.type``, ``0.args``)."""
    if rest[:1] == ["card"]:  # the form's own
        return rest
    if shape == "tool_approval":
        card = "0"
    elif shape == "middleware" and rest[:1] == ["decisions"] and len(rest) >= 2:
        card, rest = rest[1], rest[2:]
    elif shape == "agent_inbox" and rest[:1] and rest[0].isdigit():
        card, rest = rest[0], rest[1:]
        if rest == ["args"]:  # a response's text is the card's message
            rest = ["message"]
        elif rest[:2] == ["args", "args"]:
            rest = ["args", *rest[2:]]
    else:
        return rest
    if rest[:2] == ["edited_action", "args"] and len(rest) >= 3:
        rest = ["args", rest[2]]
    return ["card", card, *rest]


def _edited_args(card: Card, form: FormData) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for arg in card.args:
        text = _first(form, f"{card.prefix}.args.{arg.name}") or ""
        if not arg.given and not text.strip():
            continue  # an optional argument the agent left out, still left out
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
    if shape in ("middleware", "tool_approval"):
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
