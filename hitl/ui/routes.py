"""The web UI's pages: the inbox, a request with its answer form, threads.

Routes read through the same functions as the API (`hitl.requests`, `hitl.threads`) and answer
through `hitl.requests.respond`, so the UI follows every rule the API does (first answer wins,
validation against the response schema, the resume queued in the same transaction).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from hitl import (
    assignment,
    claims,
    comments,
    delegation,
    elicitation,
    errors,
    four_eyes,
    headlines,
    requests,
    threads,
    timeline,
)
from hitl.auth import Principal
from hitl.models import REQUEST_STATES, THREAD_STATUSES
from hitl.models import Request as HITLRequest
from hitl.ui import elicit, forms, native, pages, present, search
from hitl.ui.auth import first, posted_form, service_of
from hitl.ui.permissions import (
    CanAdminWebhooks,
    CanAnswer,
    CanReadRequests,
    CanReadThreads,
    CanWriteRequests,
)
from hitl.webhooks import delivery_log

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
# The request page's timeline: the latest entries of the thread (requests and comments), the
# rest on the thread's page.
TIMELINE_SIZE = 20
JSON_FIELD = "_hitl_json"
# The inbox's views of the signed-in person's work, by their ``view`` parameter.
VIEWS = {
    "assigned": "Assigned to me",
    "groups": "My groups",
    "claimed": "Claimed by me",
    "due": "Due soon",
}
SORT_LABELS = {"newest": "Newest", "priority": "Priority", "deadline": "Deadline"}


# -- inbox ----------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def inbox(
    request: Request,
    principal: CanReadRequests,
    state: str = "pending",
    graph: str = "",
    q: str = "",
    assigned_to: str = "",
    view: str = "",
    sort: str = "",
    cursor: str | None = None,
    fragment: str | None = None,
    bulk_done: int | None = None,
    bulk_skipped: int = 0,
    bulk_decision: str = "",
    bulk_problem: str = "",
) -> Response:
    state = state if state in (*REQUEST_STATES, "all") else "pending"
    graph = graph.strip()
    q = q.strip()[:200]
    assigned_to = assigned_to.strip()
    if assigned_to and not re.fullmatch(assignment.USERNAME_PATTERN, assigned_to):
        assigned_to = ""
    view = view if view in VIEWS else ""
    usual = "deadline" if view == "due" else "newest"
    sort = sort if sort in requests.SORTS else usual
    sorted_by = "" if sort == usual else sort  # in links only when chosen
    service = service_of(request)
    me = principal.name
    due_soon = datetime.now(UTC) + timedelta(seconds=service.settings.due_soon_seconds)
    try:
        async with service.pool.connection() as conn:
            filters: dict[str, Any] = {
                "state": None if state == "all" else state,
                "graph": graph or None,
                "assigned_to": assigned_to or None,
                "claimed_by": me if view == "claimed" else None,
                "assignee": me if view == "assigned" else None,
                "group_of": me if view == "groups" else None,
                "due_before": due_soon if view == "due" else None,
            }
            if q:
                page = await search.search_requests(
                    conn, q, **filters, limit=PAGE_SIZE, cursor=cursor
                )
            else:
                page = await requests.list_page(
                    conn, **filters, sort=cast(requests.Sort, sort), limit=PAGE_SIZE, cursor=cursor
                )
            counts = await search.request_counts(conn)
    except errors.InvalidInput:  # a stale or hand-made cursor: start from the top
        return RedirectResponse(
            "/?"
            + pages.query(
                state=state, graph=graph, q=q, assigned_to=assigned_to, view=view, sort=sorted_by
            ),
            status_code=303,
        )
    next_url = (
        "/?"
        + pages.query(
            state=state,
            graph=graph,
            q=q,
            assigned_to=assigned_to,
            view=view,
            sort=sorted_by,
            cursor=page.next_cursor,
        )
        if page.next_cursor
        else None
    )
    context: dict[str, Any] = {
        "page": page,
        "counts": counts,
        "state": state,
        # pending requests can be picked for a bulk answer, by those who may answer
        "selectable": state == "pending" and principal.has("requests:answer"),
        "graph": graph,
        "q": q,
        "assigned_filter": assigned_to,  # (``assigned_to`` is the layout's helper)
        "view": view,
        "views": VIEWS,
        "sort": sort,
        "sorts": SORT_LABELS,
        "now": datetime.now(UTC),
        "graphs": service.registry.names(),
        "cursor": cursor,
        "next_url": next_url,
        "fragment_url": "/?"
        + pages.query(
            state=state,
            graph=graph,
            q=q,
            assigned_to=assigned_to,
            view=view,
            sort=sorted_by,
            cursor=cursor,
            fragment="live",
        ),
        "query": pages.query,
        "bulk": {
            "done": bulk_done,
            "skipped": bulk_skipped,
            "decision": bulk_decision[:40],
            "problem": bulk_problem[:300],
        },
    }
    template = "_inbox_live.html" if fragment else "inbox.html"
    return pages.render_page(request, template, **context)


# -- one request ----------------------------------------------------------------------------------


@router.get("/requests/{request_id}", response_class=HTMLResponse)
async def request_page(
    request: Request, request_id: str, _: CanReadRequests, cursor: str | None = None
) -> Response:
    """The request, its answer form, and the latest of its timeline (``cursor``: an external
    request's earlier comments; a thread's are on the thread page)."""
    try:
        return await _request_view(request, request_id, cursor=cursor)
    except errors.NotFound as exc:
        return _not_found(request, exc)
    except errors.InvalidInput:  # a cursor that is not one of ours
        return RedirectResponse(f"/requests/{quote(request_id, safe='')}", 303)


#: How long after a person answers in the web UI the thread's runs are streamed for its page.
ANSWERED_WATCH_SECONDS = 60.0


@router.post("/requests/{request_id}/answer", response_class=HTMLResponse)
async def answer(request: Request, request_id: str, principal: CanAnswer) -> Response:
    """The answer form: ``requests:answer``, and for an assigned request being one it is
    assigned to (`Principal.may_answer`), as ``POST /api/v1/requests/{id}/respond``."""
    service = service_of(request)
    _, form = await posted_form(request)
    try:
        async with service.pool.connection() as conn:
            hitl_request = await requests.get(conn, request_id)
    except errors.NotFound as exc:
        return _not_found(request, exc)
    try:
        if (
            not hitl_request.approval  # a quorum's voters: the answer path knows them
            and not principal.may_answer(hitl_request)
            and await _stand_in(service, principal, hitl_request) is None
        ):
            raise errors.NotAssigned(request_id)
        value = _answer_value(hitl_request, form)
        if hitl_request.thread_id:  # the run the answer starts shows its steps on the thread page
            async with service.pool.connection() as conn:
                await threads.watch(conn, hitl_request.thread_id, ANSWERED_WATCH_SECONDS)
        await requests.respond(service.pool, request_id, value, principal)
    except errors.Forbidden as exc:
        return await _request_view(
            request, request_id, form=form, problems=[{"msg": str(exc.detail)}], status_code=403
        )
    except errors.ResponseInvalid as exc:
        return await _request_view(
            request, request_id, form=form, problems=list(exc.detail), status_code=422
        )
    except errors.InvalidInput as exc:
        return await _request_view(
            request, request_id, form=form, problems=list(exc.detail), status_code=422
        )
    except errors.RequestNotPending as exc:
        return await _request_view(request, request_id, conflict=exc, status_code=409)
    return RedirectResponse(f"/requests/{request_id}#answer", status_code=303)


@router.post("/requests/{request_id}/assign", response_class=HTMLResponse)
async def assign(request: Request, request_id: str, principal: CanWriteRequests) -> Response:
    """The reassign form: comma-separated usernames and group names (both empty: anyone)."""
    service = service_of(request)
    _, form = await posted_form(request)
    try:
        routing = assignment.Routing(
            assignees=_names(first(form, "assignees")), groups=_names(first(form, "groups"))
        )
    except ValidationError as exc:
        problems = [
            {"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        return await _request_view(
            request, request_id, assign_form=form, assign_problems=problems, status_code=422
        )
    try:
        async with service.pool.connection() as conn:
            await requests.reassign(conn, request_id, routing, principal.name)
    except errors.NotFound as exc:
        return _not_found(request, exc)
    except errors.InvalidInput as exc:
        return await _request_view(
            request,
            request_id,
            assign_form=form,
            assign_problems=list(exc.detail),
            status_code=422,
        )
    except errors.RequestNotPending as exc:
        return await _request_view(request, request_id, conflict=exc, status_code=409)
    return RedirectResponse(f"/requests/{request_id}#assignment", status_code=303)


@router.post("/requests/{request_id}/claim", response_class=HTMLResponse)
async def claim(request: Request, request_id: str, principal: CanAnswer) -> Response:
    """The request page's Claim button (`hitl.requests.claim`), back to the page."""
    return await _claiming(request, request_id, principal, release=False)


@router.post("/requests/{request_id}/unclaim", response_class=HTMLResponse)
async def unclaim(request: Request, request_id: str, principal: CanAnswer) -> Response:
    """The request page's Release button (`hitl.requests.unclaim`), back to the page."""
    return await _claiming(request, request_id, principal, release=True)


async def _claiming(
    request: Request, request_id: str, principal: Principal, *, release: bool
) -> Response:
    service = service_of(request)
    await posted_form(request)
    try:
        async with service.pool.connection() as conn:
            if release:
                await requests.unclaim(conn, request_id, principal)
            else:
                seconds = service.settings.claim_timeout_seconds
                await requests.claim(conn, request_id, principal, seconds)
    except errors.NotFound as exc:
        return _not_found(request, exc)
    except errors.Claimed as exc:
        return await _request_view(
            request, request_id, claim_problem=str(exc.detail["msg"]), status_code=409
        )
    except errors.RequestNotPending as exc:
        return await _request_view(request, request_id, conflict=exc, status_code=409)
    except errors.Forbidden as exc:
        return await _request_view(
            request, request_id, claim_problem=str(exc.detail), status_code=403
        )
    return RedirectResponse(f"/requests/{request_id}#claim", status_code=303)


@router.post("/requests/{request_id}/comments", response_class=HTMLResponse)
async def comment(request: Request, request_id: str, principal: CanAnswer) -> Response:
    """The discussion's form: a comment, or (``action=send_back``) the request sent back with
    the text as its note (`hitl.comments.send_back`)."""
    service = service_of(request)
    _, form = await posted_form(request)
    text = first(form, "body").strip()
    try:
        if not text:
            raise errors.InvalidInput(
                [{"loc": ["body", "body"], "msg": "write something", "type": "value_error"}]
            )
        if first(form, "action") == "send_back":
            await comments.send_back(service.pool, request_id, text, principal)
        else:
            async with service.pool.connection() as conn:
                await comments.add(conn, request_id, text[: comments.MAX_LENGTH], principal)
    except errors.NotFound as exc:
        return _not_found(request, exc)
    except errors.RequestNotPending as exc:
        return await _request_view(request, request_id, conflict=exc, status_code=409)
    except errors.HITLError as exc:
        said = errors.describe(exc.detail)
        return await _request_view(
            request,
            request_id,
            comment_problem=said,
            comment_text=text,
            status_code=exc.status_code,
        )
    return RedirectResponse(f"/requests/{request_id}#discussion", status_code=303)


def _names(text: str | None) -> list[str]:
    return [n.strip() for n in (text or "").split(",") if n.strip()]


@router.post("/requests/{request_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(
    request: Request, request_id: str, delivery_id: str, principal: CanAdminWebhooks
) -> Response:
    """Send a webhook of this request again now (same ``webhook-id``), back to its page."""
    service = service_of(request)
    await posted_form(request)
    try:
        async with service.pool.connection() as conn:
            await delivery_log.redeliver(conn, delivery_id, actor=principal.name)
    except errors.NotFound as exc:
        return _not_found(request, exc)
    return RedirectResponse(f"/requests/{request_id}#deliveries", status_code=303)


def _answer_value(hitl_request: HITLRequest, form: dict[str, list[str]]) -> Any:
    schema, value = hitl_request.response_schema, hitl_request.value
    if native.shape_for(value, schema):
        return native.answer_from_form(value, form, schema)
    if schema:
        return forms.value_from_form(schema, form)
    if asked := elicitation.parse(value):
        return elicit.answer_from_form(asked, form)
    raw = first(form, JSON_FIELD).strip()
    try:
        return json.loads(raw)
    except ValueError as exc:
        problem = f"not valid JSON: {exc}" if raw else "write the answer as JSON"
        raise errors.ResponseInvalid(
            [{"loc": ["body", "response"], "msg": problem, "type": "json"}]
        ) from None


async def _request_view(
    request: Request,
    request_id: str,
    *,
    form: dict[str, list[str]] | None = None,
    problems: list[dict[str, Any]] | None = None,
    conflict: errors.RequestNotPending | None = None,
    assign_form: dict[str, list[str]] | None = None,
    assign_problems: list[dict[str, Any]] | None = None,
    claim_problem: str | None = None,
    comment_problem: str | None = None,
    comment_text: str = "",
    cursor: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    service = service_of(request)
    principal = _principal(request)
    if not principal.has("requests:read"):
        # a form's outcome for a caller who may act on requests but not read them (a key with
        # requests:answer or requests:write alone): what went wrong, not the request
        said = [str(p.get("msg")) for p in [*(problems or []), *(assign_problems or [])]]
        said += [p for p in (claim_problem, comment_problem) if p]
        if conflict is not None:
            said.append(str(conflict.detail.get("msg")))
        return pages.render_page(request, "not_done.html", status_code=status_code, problems=said)
    async with service.pool.connection() as conn:
        hitl_request = await requests.get(conn, request_id)
        thread = None
        if hitl_request.thread_id:
            thread = await threads.get(conn, hitl_request.thread_id)
        shown = await timeline.of_request(conn, hitl_request, limit=TIMELINE_SIZE, cursor=cursor)
        sent = await delivery_log.of_request(conn, hitl_request.id)
        votes = await requests.votes_of(conn, hitl_request.id) if hitl_request.approval else []
        voter = (
            await requests.may_vote(conn, principal, hitl_request)
            if hitl_request.approval
            else None
        )
        standing_for = None
        if principal.kind == "user" and principal.has("requests:answer"):
            if not principal.may_answer(hitl_request):
                standing_for = await delegation.stands_in_for(conn, principal.name, hitl_request)
    # as GET /api/v1/requests/{id}/deliveries: the details (a receiver's answer, the error of
    # a refused connection, which names hosts and addresses) are for webhook admins; others
    # see what came of each delivery
    delivery_details = principal.has("webhooks:admin")
    value = hitl_request.value
    title, kind_label = headlines.request_title(hitl_request), headlines.label(value)
    schema = hitl_request.response_schema
    shape = native.shape_for(value, schema)
    asked = None if schema else elicitation.parse(value)
    questions = elicit.views(asked) if asked else []
    fields = [] if shape else forms.fields_from_schema(schema)
    if form is not None:
        values = form
    elif shape:
        values = native.initial_values(value, schema)
    elif asked:
        values = elicit.initial_values(questions)
    else:
        values = forms.initial_values(fields)
    problems = problems or []
    if shape:
        field_errors, loose = native.place_errors(shape, problems)
    elif asked:
        field_errors, loose = elicit.place_errors(asked, questions, problems)
    else:
        field_errors, loose = forms.errors_by_field(fields, problems)
        if not fields:  # the JSON editor: its errors are the form's
            field_errors, loose = {JSON_FIELD: [str(p.get("msg")) for p in problems]}, []
    return pages.render_page(
        request,
        "request.html",
        status_code=status_code,
        req=hitl_request,
        thread=thread,
        value=value,
        schema=schema,
        code_review=present.is_code_review(value),
        deploy_tests=present.deploy_tests(value),
        diff=present.diff_lines(value["diff"]) if present.is_code_review(value) else [],
        description=hitl_request.description or present.description(value),
        title=title,
        kind_label=kind_label if kind_label != title else None,
        shape=shape,
        cards=native.cards(value, schema) if shape else [],
        elicitation=asked,
        questions=questions,
        elicit_buttons=elicit.buttons(asked) if asked else [],
        elicit_action=elicit.ACTION_FIELD,
        native_labels=native.LABELS,
        native_messages=native.MESSAGES,
        fields=fields,
        values=values,
        field_errors=field_errors,
        loose_errors=loose,
        conflict=conflict,
        timeline=shown,
        earlier_url=_earlier(hitl_request, shown),
        latest_url=f"/requests/{hitl_request.id}#timeline" if cursor else None,
        deliveries=sent if delivery_details else [present.delivery_outcome(d) for d in sent],
        delivery_details=delivery_details,
        json_field=JSON_FIELD,
        json_text=first(values, JSON_FIELD),
        may_answer=voter
        if voter is not None
        else principal.may_answer(hitl_request) or standing_for is not None,
        standing_for=standing_for,
        own_request=four_eyes.refuses(principal, hitl_request),
        claim_live=claims.holds(hitl_request),
        claim_mine=hitl_request.claimed_by_subject == principal.subject,
        claim_blocks=claims.blocks(principal, hitl_request),
        claim_problem=claim_problem,
        votes=votes,
        my_vote=next((v for v in votes if v.by == principal.name), None),
        comment_problem=comment_problem,
        comment_text=comment_text,
        may_send_back=comments.send_back_answer(hitl_request.response_schema, "-") is not None,
        assign_assignees=first(assign_form, "assignees", None)
        if assign_form is not None
        else ", ".join(hitl_request.assignees),
        assign_groups=first(assign_form, "groups", None)
        if assign_form is not None
        else ", ".join(hitl_request.assigned_groups),
        assign_problems=[str(p.get("msg")) for p in assign_problems or []],
    )


def _earlier(hitl_request: HITLRequest, shown: timeline.Timeline) -> str | None:
    """Where the request page's timeline goes on: the thread page (the whole history, a page
    at a time) from the entry before those shown, or for an external request its own page."""
    if shown.next_cursor is None:
        return None
    where = quote(hitl_request.thread_id, safe="") if hitl_request.thread_id else None
    cursor = pages.query(cursor=shown.next_cursor)
    if where is not None:
        return f"/threads/{where}?{cursor}"
    return f"/requests/{hitl_request.id}?{cursor}#timeline"


async def _stand_in(service: Any, principal: Principal, hitl_request: HITLRequest) -> str | None:
    """Whom ``principal`` may answer ``hitl_request`` for (`hitl.delegation`), if anyone."""
    if principal.kind != "user":
        return None
    async with service.pool.connection() as conn:
        return await delegation.stands_in_for(conn, principal.name, hitl_request)


def _principal(request: Request) -> Principal:
    principal: Principal = request.scope["principal"]
    return principal


def _not_found(request: Request, exc: errors.HITLError) -> HTMLResponse:
    return pages.render_page(request, "not_found.html", status_code=404, detail=str(exc.detail))


# -- threads --------------------------------------------------------------------------------------


@router.get("/threads", response_class=HTMLResponse)
async def thread_list(
    request: Request,
    principal: CanReadThreads,
    status: str = "",
    graph: str = "",
    cursor: str | None = None,
) -> Response:
    status = status if status in THREAD_STATUSES else ""
    graph = graph.strip()
    service = service_of(request)
    try:
        async with service.pool.connection() as conn:
            page = await threads.list_page(
                conn, status=status or None, graph=graph or None, limit=PAGE_SIZE, cursor=cursor
            )
            gists = await threads.gists(
                conn,
                [t.thread_id for t in page.items],
                with_history=principal.has("requests:read"),
            )
    except errors.InvalidInput:
        return RedirectResponse("/threads?" + pages.query(status=status, graph=graph), 303)
    next_url = (
        "/threads?" + pages.query(status=status, graph=graph, cursor=page.next_cursor)
        if page.next_cursor
        else None
    )
    return pages.render_page(
        request,
        "threads.html",
        page=page,
        gists=gists,
        status=status,
        graph=graph,
        graphs=service.registry.names(),
        next_url=next_url,
    )


@router.get("/threads/{thread_id}", response_class=HTMLResponse)
async def thread_page(
    request: Request, thread_id: str, principal: CanReadThreads, cursor: str | None = None
) -> Response:
    """The thread, what waits for people, and its history a page at a time: the latest
    ``PAGE_SIZE`` entries of its timeline (requests and comments, oldest of them first), with
    a link to the ones before."""
    service = service_of(request)
    # what was asked and answered before is the requests' (GET /api/v1/threads/{id} shows
    # only what is pending)
    show_history = principal.has("requests:read")
    try:
        async with service.pool.connection() as conn:
            thread = await threads.get(conn, thread_id)
            pending = await requests.pending_of_thread(conn, thread_id)
            gist = (await threads.gists(conn, [thread_id], with_history=show_history)).get(
                thread_id
            )
            if show_history:
                history = await timeline.of_thread(conn, thread_id, limit=PAGE_SIZE, cursor=cursor)
            else:  # what waits for people, nothing before it (nor any comment)
                history = timeline.Timeline([timeline.Entry(r) for r in pending])
    except errors.NotFound as exc:
        return _not_found(request, exc)
    except errors.InvalidInput:  # a cursor that is not one of ours
        return RedirectResponse(f"/threads/{quote(thread_id, safe='')}", 303)
    here = f"/threads/{quote(thread_id, safe='')}"
    earlier_url = (
        f"{here}?" + pages.query(cursor=history.next_cursor) if history.next_cursor else None
    )
    return pages.render_page(
        request,
        "thread.html",
        thread=thread,
        gist=gist,
        pending=pending,
        timeline=history,
        earlier_url=earlier_url,
        latest_url=here if cursor else None,
        page_url=here,
        progress_url=f"/ui{here}/progress",
    )
