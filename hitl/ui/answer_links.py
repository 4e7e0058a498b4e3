"""The pages behind the answer buttons of notification emails (`hitl.notifications.tokens`).

``GET /answer/<token>`` shows what is asked, the choice and the person, and changes nothing
(mail scanners and link previews open every link); its form posts back to the same address,
and that POST answers as the token's person through `hitl.requests.respond_on`. Either page
says how things stand when the link can no longer answer: who answered first, the link spent
or expired. No session is needed: the token is the proof, and it is good for one answer.

While someone's claim binds the request (`hitl.claims`), both pages say who holds it and until
when; when it binds the link's person, the confirmation page says, before they confirm, that
the answer would be refused until then (the POST still asks the one answer path, which
refuses it while the claim binds).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from hitl import claims, errors, requests
from hitl.api.deps import TokenHolder
from hitl.models import Request as HITLRequest
from hitl.notifications import tokens
from hitl.ui import pages
from hitl.ui.auth import service_of

router = APIRouter(include_in_schema=False)


def _page(
    request: Request,
    status_code: int,
    *,
    ticket: tokens.Ticket | None,
    asked: HITLRequest | None,
    outcome: str,
    problem: str = "",
    token: str = "",
) -> HTMLResponse:
    return pages.render_page(
        request,
        "answer_link.html",
        status_code=status_code,
        principal=None,  # a link, not a session: the page is for the token's person
        ticket=ticket,
        asked=asked,
        outcome=outcome,
        problem=problem,
        token=token,
        **_claim(ticket, asked),
    )


def _claim(ticket: tokens.Ticket | None, asked: HITLRequest | None) -> dict[str, bool]:
    """Whether a claim binds the request, whether it is the link's person's own, and whether
    it keeps that person from answering (`hitl.claims`)."""
    if ticket is None or asked is None:
        return {"claim_live": False, "claim_mine": False, "claim_blocks": False}
    return {
        "claim_live": claims.holds(asked),
        "claim_mine": asked.claimed_by_subject == ticket.person.subject,
        "claim_blocks": claims.blocks(ticket.person, asked),
    }


@router.get("/answer/{token}", response_class=HTMLResponse)
async def confirm(request: Request, token: str, _proof: TokenHolder) -> HTMLResponse:
    service = service_of(request)
    async with service.pool.connection() as conn:
        try:
            ticket = await tokens.lookup(conn, token)
        except tokens.TokenUnknown as exc:
            return _page(request, 404, ticket=None, asked=None, outcome="", problem=exc.detail)
        asked = await requests.get(conn, ticket.request_id)
    if ticket.used_at is not None:
        return _page(request, 409, ticket=ticket, asked=asked, outcome="spent")
    if asked.state != "pending":
        return _page(request, 409, ticket=ticket, asked=asked, outcome="answered")
    if ticket.expired:
        return _page(request, 410, ticket=ticket, asked=asked, outcome="expired")
    return _page(request, 200, ticket=ticket, asked=asked, outcome="confirm", token=token)


@router.post("/answer/{token}", response_class=HTMLResponse)
async def answer(request: Request, token: str, _proof: TokenHolder) -> HTMLResponse:
    service = service_of(request)
    try:
        ticket, answered = await tokens.answer(service.pool, token)
    except tokens.TokenUnknown as exc:
        return _page(request, 404, ticket=None, asked=None, outcome="", problem=exc.detail)
    except (tokens.TokenSpent, tokens.TokenExpired, errors.HITLError) as exc:
        return await _refused(request, token, exc)
    return _page(request, 200, ticket=ticket, asked=answered, outcome="done")


async def _refused(request: Request, token: str, exc: errors.HITLError) -> HTMLResponse:
    """The page for an answer the link could not give: what stands now, and why."""
    async with service_of(request).pool.connection() as conn:
        ticket = await tokens.lookup(conn, token)
        asked = await requests.get(conn, ticket.request_id)
    if isinstance(exc, tokens.TokenSpent):
        return _page(request, 409, ticket=ticket, asked=asked, outcome="spent")
    if isinstance(exc, errors.RequestNotPending) and asked.state != "pending":
        return _page(request, 409, ticket=ticket, asked=asked, outcome="answered")
    if isinstance(exc, tokens.TokenExpired | errors.RequestPastDeadline):
        return _page(request, 410, ticket=ticket, asked=asked, outcome="expired")
    if isinstance(exc, errors.Claimed) and claims.holds(asked):
        return _page(request, 409, ticket=ticket, asked=asked, outcome="claimed")
    status = exc.status_code if 400 <= exc.status_code < 500 else 409
    return _page(
        request,
        status,
        ticket=ticket,
        asked=asked,
        outcome="refused",
        problem=errors.describe(exc.detail)
        if not isinstance(exc.detail, dict)
        else str(exc.detail.get("msg")),
    )
