"""Claims: a person says "I am on it", so that two people do not work on one request.

``POST /api/v1/requests/{id}/claim`` (or the request page's button) records who claimed a
pending request and until when (``HITL_CLAIM_TIMEOUT_SECONDS`` from now; claiming again renews
it). Until then others may not answer it (409 naming who holds it and until when), claim it or
release it, except admins, who may answer and take it over (a busy approver's claim must not
lock a request when it matters). After the time-out the claim no longer binds anyone: it is
shown as expired, and anyone who may answer may claim or answer.

Who may claim: who may answer (`hitl.auth.Principal.may_answer`), the requester excepted when
four-eyes forbids them (`hitl.four_eyes`). The claim is checked in the one answer path
(`hitl.requests`), and again in the answer's conditional update, so a claim committed between
the check and the answer refuses it. Each claim and release writes a ``request.claimed`` /
``request.unclaimed`` event and an audit entry.

This module is the rules only (below the request state machine, which applies them);
claiming and releasing are `hitl.requests.claim` / `unclaim`, beside `reassign`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hitl.auth.principal import Principal
    from hitl.models import Request


def holds(request: Request, now: datetime | None = None) -> bool:
    """Whether ``request`` has a claim that still binds (not expired)."""
    expires = request.claim_expires_at
    return (
        request.claimed_by_subject is not None
        and expires is not None
        and expires > (now or datetime.now(UTC))
    )


def blocks(by: Principal, request: Request, now: datetime | None = None) -> bool:
    """Whether someone else's live claim keeps ``by`` from answering (admins pass)."""
    return holds(request, now) and request.claimed_by_subject != by.subject and not by.is_admin
