"""Bulk answers from the inbox: approve (or reject) several pending requests at once.

Only requests of one graph asking the same question (the same response schema, with a
``decision`` the chosen value is allowed for) can be answered together. Each is answered
through `hitl.requests.respond`, like a single answer: validated, first answer wins. One
already answered by someone else meanwhile is skipped and counted, not an error.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from hitl import errors, requests
from hitl.models import Request as HITLRequest
from hitl.ui import pages
from hitl.ui.auth import first, posted_form, service_of
from hitl.ui.permissions import CanAnswer

router = APIRouter(include_in_schema=False)

MAX_BULK = 200


def decisions_of(schema: dict[str, Any] | None) -> list[str]:
    """The values a schema allows for a top-level ``decision`` (empty when it has none)."""
    if not schema:
        return []
    prop = (schema.get("properties") or {}).get("decision") or {}
    if "$ref" in prop:  # pydantic puts a Literal/Enum under $defs
        name = prop["$ref"].rsplit("/", 1)[-1]
        prop = (schema.get("$defs") or {}).get(name) or {}
    return [v for v in prop.get("enum") or [] if isinstance(v, str)]


def same_question(found: list[HITLRequest]) -> str | None:
    """Why these requests cannot be answered together, or None when they can."""
    if len({r.graph for r in found}) > 1:
        return "the selected requests belong to different graphs"
    if len({repr(r.response_schema) for r in found}) > 1:
        return "the selected requests ask different questions"
    if not decisions_of(found[0].response_schema):
        return "these requests have no decision to choose"
    return None


@router.post("/bulk")
async def bulk_answer(request: Request, principal: CanAnswer) -> Response:
    service = service_of(request)
    _, form = await posted_form(request)
    ids = list(dict.fromkeys(form.get("ids", [])))[:MAX_BULK]
    decision = first(form, "decision")
    comment = first(form, "comment").strip()
    graph = first(form, "graph")
    back = {"state": "pending", "graph": graph}

    if not ids:
        return _back(back, problem="select at least one request")
    async with service.pool.connection() as conn:
        found = []
        for request_id in ids:
            try:
                found.append(await requests.get(conn, request_id))
            except errors.NotFound:
                continue
    problem = same_question(found) if found else "the selected requests no longer exist"
    if problem is None and decision not in decisions_of(found[0].response_schema):
        problem = f"{decision!r} is not a decision these requests allow"
    if problem:
        return _back(back, problem=problem)

    answer: dict[str, Any] = {"decision": decision}
    if comment:
        answer["comment"] = comment
    done = skipped = 0
    for item in found:
        try:
            await requests.respond(service.pool, item.id, answer, principal)
            done += 1
        except (errors.RequestNotPending, errors.Forbidden):  # answered, or not this person's
            skipped += 1
        except errors.ResponseInvalid as exc:
            msg = exc.detail[0]["msg"] if exc.detail else "invalid"
            return _back(back, problem=f"{done} answered, then refused: {msg}")
    return _back(back, done=str(done), skipped=str(skipped), decision=decision)


def _back(params: dict[str, str], **outcome: str) -> RedirectResponse:
    """Back to the inbox, saying what happened (``bulk_*`` parameters)."""
    query = pages.query(**params, **{f"bulk_{k}": v for k, v in outcome.items()})
    return RedirectResponse("/?" + query, status_code=303)
