"""An MCP elicitation on the request page: each question's form (from its flat schema) or link,
and Accept / Decline / Cancel buttons that answer them all (`hitl.elicitation` has the shapes).

A form question's controls are named ``q.<i>.<property>``; the button pressed is ``action``.
A URL question's address is shown with its host emphasised and is never fetched or proxied:
the person follows it in their own browser, then says "Done". Decline and Cancel send no
content, so a half-filled form does not stop them. The answer goes through the same answer path
as any other (`hitl.requests.respond`), which checks it against each question's schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hitl import elicitation, errors
from hitl.elicitation import Elicitation, Link, Question
from hitl.ui import forms
from hitl.ui.forms import FormData

ACTION_FIELD = "action"
FORM_PREFIX = "q"


@dataclass
class QuestionView:
    index: int
    question: Question
    fields: list[forms.Field] = field(default_factory=list)
    link: Link | None = None

    @property
    def prefix(self) -> tuple[str, ...]:
        return (FORM_PREFIX, str(self.index))


def views(asked: Elicitation) -> list[QuestionView]:
    out = []
    for i, q in enumerate(asked.questions):
        view = QuestionView(i, q)
        if q.mode == "form":
            view.fields = forms.fields_from_schema(q.schema, view.prefix)
        elif q.url is not None:
            view.link = elicitation.link(q.url)
        out.append(view)
    return out


def buttons(asked: Elicitation) -> list[tuple[str, str]]:
    """The actions offered, as (value, label): "Done" when every question is a page to visit."""
    visit = all(q.mode == "url" for q in asked.questions)
    return [("accept", "Done" if visit else "Accept"), ("decline", "Decline"), ("cancel", "Cancel")]


def initial_values(shown: Sequence[QuestionView]) -> dict[str, list[str]]:
    """Each form starts with its schema's defaults."""
    values: dict[str, list[str]] = {}
    for view in shown:
        values.update(forms.initial_values(view.fields))
    return values


def answer_from_form(asked: Elicitation, form: FormData) -> Any:
    """The resume value the pressed button and the filled forms stand for; raises
    `errors.ResponseInvalid` for a missing action or text a field cannot read."""
    action = _first(form, ACTION_FIELD)
    if action not in elicitation.ACTIONS:
        raise errors.ResponseInvalid(
            [{"loc": ["body", "response", ACTION_FIELD], "msg": "choose an action", "type": "enum"}]
        )
    responses: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    for view in views(asked):
        if action == "accept" and view.question.mode == "form":
            try:
                content = forms.value_from_form(view.question.schema, form, view.prefix)
            except errors.ResponseInvalid as exc:
                problems += exc.detail
                continue
            responses.append({"action": action, "content": content})
        else:
            responses.append({"action": action})
    if problems:
        raise errors.ResponseInvalid(problems)
    return elicitation.answer(asked, responses)


def place_errors(
    asked: Elicitation, shown: Sequence[QuestionView], problems: Sequence[dict[str, Any]]
) -> tuple[dict[str, list[str]], list[str]]:
    """Each problem next to its field (by name), and those that belong to none."""
    to_form = {
        ("body", "response", *view.question.at, "content"): ("body", "response", *view.prefix)
        for view in shown
    }
    moved = []
    for p in problems:
        loc = tuple(p.get("loc") or ())
        for real, named in to_form.items():
            if loc[: len(real)] == real and loc != real:
                loc = (*named, *loc[len(real) :])
                break
        moved.append({**p, "loc": list(loc)})
    all_fields = [f for view in shown for f in view.fields]
    return forms.errors_by_field(all_fields, moved)


def _first(form: FormData, name: str) -> str | None:
    got = form.get(name)
    if got is None or isinstance(got, str):
        return got
    return got[0] if got else None
