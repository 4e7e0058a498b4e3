"""The answers a request can take with one click: its choices, when it has a few.

Pure functions, shared by the email buttons and the Slack buttons. A request is answered by a
choice when the whole answer is one pick from a short list:

- the response schema is an ``enum`` or a ``boolean``;
- or an object whose only required property is an ``enum`` or a ``boolean`` (the ``decision``
  of an approval), every other property optional;
- or the interrupt's value is in langchain's ``HumanInTheLoopMiddleware`` shape, or Agent
  Inbox's, and a decision allowed for every action needs nothing more (no edits, no message):
  the one decision then answers every action.

Anything else (free text, several fields, an edit) has no choices: the message links to the
request's page instead. The value a choice sends is validated like any answer when it is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hitl import reviews

#: More than this many values is a list to read, not buttons to press.
MAX_CHOICES = 5

LABELS = {
    "approve": "Approve",
    "accept": "Accept",
    "reject": "Reject",
    "ignore": "Ignore",
}


@dataclass(frozen=True)
class Choice:
    label: str
    value: Any  # the answer it sends, as the response schema (or the shape) wants it
    style: str | None = None  # "primary" / "danger", for Slack's buttons


def of(response_schema: Mapping[str, Any] | None, value: Any) -> list[Choice]:
    """The request's choices; empty when it cannot be answered with one click."""
    native = _native(value)
    if native is not None:
        return native
    if not response_schema:
        return []
    picks = _picks(response_schema, response_schema)
    if picks is not None:
        return [Choice(_label(v), v, _style(v)) for v in picks]
    if response_schema.get("type") != "object":
        return []
    props = response_schema.get("properties")
    required = response_schema.get("required") or []
    if not isinstance(props, Mapping) or not isinstance(required, list) or len(required) != 1:
        return []
    [name] = required
    node = props.get(name)
    if not isinstance(node, Mapping):
        return []
    picks = _picks(response_schema, node)
    if picks is None:
        return []
    return [Choice(_label(v), {name: v}, _style(v)) for v in picks]


def _resolve(root: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        found = (root.get("$defs") or {}).get(ref.removeprefix("#/$defs/"))
        return found if isinstance(found, Mapping) else {}
    return node


def _picks(root: Mapping[str, Any], node: Mapping[str, Any]) -> list[Any] | None:
    node = _resolve(root, node)
    if node.get("type") == "boolean":
        return [True, False]
    if "const" in node and isinstance(node["const"], str | int | bool):
        return [node["const"]]
    enum = node.get("enum")
    if isinstance(enum, list) and 0 < len(enum) <= MAX_CHOICES:
        if all(isinstance(v, str | int | bool) and not isinstance(v, float) for v in enum):
            return list(enum)
    return None


def _label(value: Any) -> str:
    if value is True:
        return "Yes"
    if value is False:
        return "No"
    text = str(value)
    return LABELS.get(text, text.replace("_", " ").strip().capitalize() or text)


def _style(value: Any) -> str | None:
    if value is True or value in ("approve", "accept", "approved", "yes"):
        return "primary"
    if value is False or value in ("reject", "deny", "rejected", "no"):
        return "danger"
    return None


def _native(value: Any) -> list[Choice] | None:
    """The choices of a middleware or Agent Inbox value (the decisions `hitl.reviews` would
    accept for every action); None when the value is neither."""
    review = reviews.parse(value)
    if review is None:
        return None
    plain = ("approve", "reject") if review.shape == "middleware" else ("accept", "ignore")
    common = [d for d in plain if review.actions and all(d in a.allowed for a in review.actions)]
    n = len(review.actions)
    every = f" all {n}" if n > 1 else ""
    return [
        Choice(
            LABELS[d] + every,
            {"decisions": [{"type": d} for _ in range(n)]}
            if review.shape == "middleware"
            else [{"type": d, "args": None} for _ in range(n)],
            _style(d),
        )
        for d in common
    ]
