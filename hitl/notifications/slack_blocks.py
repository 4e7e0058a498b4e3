"""Slack app mode's Block Kit: a request's message, its modal, and reading a modal's answer.

Pure functions. The message says what `hitl.notifications.content` allows (title, why, graph,
deadline; never the value beyond its title) and, while the request waits, how to answer:

- a choice (`hitl.notifications.choices`: an enum, a boolean, a decision, middleware or Agent
  Inbox decisions that need nothing more) -> one button per choice;
- a small flat schema (a few strings, numbers, enums, booleans) -> an "Answer..." button that
  opens a modal with the matching inputs (`modal`), read back by `answer_of`;
- anything else -> the "Review in browser" button only (every message has it).

While it waits, the message also says who claimed it and until when (`hitl.claims`: "Claimed
by ana until 11:42 UTC", a context block of its own) and, for a quorum request, the votes so
far ("1 of 2 approvals"). Once the request is no longer pending the same message is rendered
without buttons or those lines, saying what became of it ("Approve by ana at 10:42 UTC"), and
every copy is updated to it.

Ids the interactivity endpoint reads: buttons' ``action_id`` is ``hitl:choice:<i>`` (value
``<request id>|<i>``), ``hitl:form`` (value: the request id) or ``hitl:open`` (a link); the
modal's ``callback_id`` is ``hitl:form``, its ``private_metadata`` the request id, each input's
``block_id`` ``field:<name>`` with ``action_id`` ``value``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from hitl import quorum
from hitl.models import Request
from hitl.notifications import choices
from hitl.notifications.content import Content

CHOICE = "hitl:choice:"
FORM = "hitl:form"
OPEN = "hitl:open"
CLAIM_BLOCK = "hitl:claim"
VOTES_BLOCK = "hitl:votes"
FIELD = "field:"
VALUE = "value"
#: A modal holds a short form; more fields than this is a page's work.
MAX_FIELDS = 6


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- the message ------------------------------------------------------------------------------


def message(
    content: Content, request: Request, votes: Sequence[quorum.Vote] = ()
) -> dict[str, Any]:
    """``text`` (the fallback notifications show) and ``blocks`` for ``request`` as it is, with
    its ``votes`` so far when it is a quorum request."""
    link = escape(content.link)
    facts = "\n".join(f"*{escape(label)}:* {escape(value)}" for label, value in content.facts)
    pending = request.state == "pending"
    headline = escape(content.reason) if pending else outcome(request, votes)
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*<{link}|{escape(content.title)}>*\n{headline}"},
        }
    ]
    if facts:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": facts}]})
    if pending and content.claim:
        blocks.append(_context(CLAIM_BLOCK, f":lock: {escape(content.claim)}"))
    tallied = tally(request, votes) if pending else None
    if tallied:
        blocks.append(_context(VOTES_BLOCK, f":ballot_box_with_ballot: {escape(tallied)}"))
    buttons: list[dict[str, Any]] = []
    if pending:
        options = choices.of(request.response_schema, request.value)
        for i, choice in enumerate(options):
            button: dict[str, Any] = {
                "type": "button",
                "action_id": f"{CHOICE}{i}",
                "text": {"type": "plain_text", "text": choice.label[:75]},
                "value": f"{request.id}|{i}",
            }
            if choice.style:
                button["style"] = choice.style
            buttons.append(button)
        if not options and form_fields(request.response_schema):
            buttons.append(
                {
                    "type": "button",
                    "action_id": FORM,
                    "text": {"type": "plain_text", "text": "Answer…"},
                    "value": request.id,
                    "style": "primary",
                }
            )
    buttons.append(
        {
            "type": "button",
            "action_id": OPEN,
            "text": {"type": "plain_text", "text": "Review in browser"},
            "url": content.link,
        }
    )
    blocks.append({"type": "actions", "block_id": f"hitl:{request.id}", "elements": buttons})
    state = "" if pending else f" ({request.state})"
    return {
        "text": f"{escape(content.subject)}{state}: {link}",
        "blocks": blocks,
        "unfurl_links": False,
    }


def _context(block_id: str, text: str) -> dict[str, Any]:
    return {
        "type": "context",
        "block_id": block_id,
        "elements": [{"type": "mrkdwn", "text": text}],
    }


def tally(request: Request, votes: Sequence[quorum.Vote]) -> str | None:
    """A quorum request's votes so far: "1 of 2 approvals", and the other decisions counted
    ("1 of 2 approvals, 1 reject"); None for a request that takes one answer."""
    if request.approval is None:
        return None
    try:
        terms = quorum.check(request.approval)
    except ValueError:
        return None
    approving = sum(1 for v in votes if v.decision == terms.approve)
    noun = "approval" if terms.min == 1 else "approvals"
    counts: dict[str, int] = {}
    for vote in votes:
        if vote.decision != terms.approve:
            said = vote.decision if isinstance(vote.decision, str) else json.dumps(vote.decision)
            counts[said] = counts.get(said, 0) + 1
    others = "".join(f", {n} {said}" for said, n in counts.items())
    return f"{approving} of {terms.min} {noun}{others}"


def outcome(request: Request, votes: Sequence[quorum.Vote] = ()) -> str:
    """What became of a request that no longer waits, as one mrkdwn line (a quorum's decision
    by the voters who made it)."""
    at = request.responded_at or request.closed_at or request.updated_at
    when = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    expired = request.state == "expired" or (request.deadline_action or "").startswith("expire")
    if expired:
        return f":hourglass: Expired at {when}: nobody answered before the deadline."
    if request.state in ("cancelled", "superseded"):
        return f"No answer is needed any more ({request.state} at {when})."
    label = label_of(request)
    if request.deadline_action == "default":
        return f":hourglass: The deadline answered with its default: *{escape(label)}* at {when}."
    decided = quorum.decision_of(request.response)
    voters = [v.by for v in votes if request.approval is not None and v.decision == decided]
    who = escape(_names(voters) if voters else request.responded_by or "someone")
    return f":white_check_mark: *{escape(label)}* by {who} at {when}."


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def label_of(request: Request) -> str:
    """The choice an answer was, by its label (a quorum's, by its decision); "Answered" when
    it was not one."""
    decided = quorum.decision_of(request.response)
    for choice in choices.of(request.response_schema, request.value):
        by_decision = request.approval is not None and quorum.decision_of(choice.value) == decided
        if choice.value == request.response or by_decision:
            return choice.label
    return "Answered"


# -- the modal --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: str  # "string", "integer", "number", "boolean", "enum"
    required: bool
    options: tuple[Any, ...] = ()
    multiline: bool = False


def form_fields(schema: Mapping[str, Any] | None) -> list[FormField]:
    """The inputs of a small flat object schema; empty when the schema is not one."""
    if not schema or schema.get("type") != "object":
        return []
    props = schema.get("properties")
    required = schema.get("required") or []
    if not isinstance(props, Mapping) or not 0 < len(props) <= MAX_FIELDS:
        return []
    fields = []
    for name, raw in props.items():
        node = _plain(schema, raw)
        if node is None:
            return []
        title = node.get("title") if isinstance(node.get("title"), str) else None
        label = (title or str(name).replace("_", " ").capitalize())[:2000]
        enum = node.get("enum")
        kind = node.get("type")
        if isinstance(enum, list) and enum and all(isinstance(v, str | int) for v in enum):
            fields.append(FormField(name, label, "enum", name in required, tuple(enum[:100])))
        elif kind in ("string", "integer", "number", "boolean"):
            long = kind == "string" and not (0 < int(node.get("maxLength") or 0) <= 150)
            fields.append(FormField(name, label, kind, name in required, multiline=long))
        else:
            return []
    return fields


def _plain(root: Mapping[str, Any], node: Any) -> Mapping[str, Any] | None:
    """A property's schema with ``$ref`` and an ``anyOf`` with ``null`` (an Optional) seen
    through; None for anything nested or composite."""
    if not isinstance(node, Mapping):
        return None
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        found = (root.get("$defs") or {}).get(ref.removeprefix("#/$defs/"))
        return _plain(root, found) if isinstance(found, Mapping) else None
    any_of = node.get("anyOf")
    if isinstance(any_of, list):
        rest = [n for n in any_of if not (isinstance(n, Mapping) and n.get("type") == "null")]
        if len(rest) != 1:
            return None
        inner = _plain(root, rest[0])
        return None if inner is None else {**inner, **{k: node[k] for k in ("title",) if k in node}}
    return node


def modal(request: Request, title: str) -> dict[str, Any]:
    """The view `views.open` shows for ``request``'s form."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{escape(title)}*"}}
    ]
    for f in form_fields(request.response_schema):
        blocks.append(
            {
                "type": "input",
                "block_id": f"{FIELD}{f.name}",
                "optional": not f.required,
                "label": {"type": "plain_text", "text": f.label},
                "element": _element(f),
            }
        )
    return {
        "type": "modal",
        "callback_id": FORM,
        "private_metadata": request.id,
        "title": {"type": "plain_text", "text": "Answer the request"},
        "submit": {"type": "plain_text", "text": "Submit"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def notice(text: str) -> dict[str, Any]:
    """A modal that only says ``text`` (a submitted vote, acknowledged), with a close button."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Answer the request"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": escape(text)}}],
    }


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text[:75]}, "value": value}


def _element(f: FormField) -> dict[str, Any]:
    if f.kind == "enum":
        options = [_option(str(v), str(i)) for i, v in enumerate(f.options)]
        return {"type": "static_select", "action_id": VALUE, "options": options}
    if f.kind == "boolean":
        options = [_option("Yes", "true"), _option("No", "false")]
        return {"type": "radio_buttons", "action_id": VALUE, "options": options}
    if f.kind in ("integer", "number"):
        return {
            "type": "number_input",
            "action_id": VALUE,
            "is_decimal_allowed": f.kind == "number",
        }
    return {"type": "plain_text_input", "action_id": VALUE, "multiline": f.multiline}


def answer_of(
    schema: Mapping[str, Any] | None, values: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The answer a modal's ``view.state.values`` give, and the problems by ``block_id`` (a
    number that is not one, a required field left empty)."""
    answer: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for f in form_fields(schema):
        block = f"{FIELD}{f.name}"
        raw = values.get(block, {}).get(VALUE, {}) if isinstance(values.get(block), Mapping) else {}
        picked = raw.get("selected_option") if isinstance(raw, Mapping) else None
        text = raw.get("value") if isinstance(raw, Mapping) else None
        if isinstance(picked, Mapping):
            text = picked.get("value")
        if text is None or (isinstance(text, str) and not text.strip() and f.kind != "string"):
            if f.required:
                problems[block] = "required"
            continue
        value = _typed(f, str(text))
        if value is None:
            problems[block] = f"must be {'a whole number' if f.kind == 'integer' else 'a number'}"
            continue
        answer[f.name] = value
    return answer, problems


def _typed(f: FormField, text: str) -> Any:
    if f.kind == "enum":
        return f.options[int(text)] if text.isdigit() and int(text) < len(f.options) else None
    if f.kind == "boolean":
        return {"true": True, "false": False}.get(text)
    if f.kind == "integer":
        try:
            return int(text.strip())
        except ValueError:
            return None
    if f.kind == "number":
        try:
            number = float(text.strip())
        except ValueError:
            return None
        return int(number) if number.is_integer() and "." not in text else number
    return text


def errors_by_block(
    problems: list[dict[str, Any]], schema: Mapping[str, Any] | None
) -> dict[str, str]:
    """A 422's problems (``loc`` ending under ``response``) as a modal's ``errors``: each on its
    field's block, the rest on the first field."""
    names = [f.name for f in form_fields(schema)]
    out: dict[str, str] = {}
    for p in problems:
        loc = [str(x) for x in p.get("loc", [])]
        tail = loc[loc.index("response") + 1 :] if "response" in loc else []
        name = tail[0] if tail and tail[0] in names else (names[0] if names else "")
        block = f"{FIELD}{name}"
        msg = str(p.get("msg", "invalid"))
        out[block] = f"{out[block]}; {msg}" if block in out else msg
    return out
