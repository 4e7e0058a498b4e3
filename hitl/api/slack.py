"""``POST /slack/interactivity``: Slack's requests when someone clicks a button of a request's
message or submits its modal (Slack app mode, `hitl.notifications.slack_interactions`).

No session, no key: the caller proves it is Slack with the signature Slack computes over the
body with the app's signing secret (``X-Slack-Signature``, ``X-Slack-Request-Timestamp``),
verified with ``slack-sdk``'s `SignatureVerifier`, which also refuses a timestamp more than
five minutes away. A signed request seen before is a replay (``hitl_slack_seen``). Each of
these is refused with 401 and logged, before the body is read as anything; so is every
request while Slack app mode is off.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from slack_sdk.signature import SignatureVerifier

from hitl.api.deps import ServiceDep, SignedRequest
from hitl.db.sql import slack as slack_sql
from hitl.notifications import slack_interactions
from hitl.notifications.slack_app import SlackApp

router = APIRouter(include_in_schema=False)
log = logging.getLogger("hitl.slack")


def _refuse(request: Request, why: str) -> JSONResponse:
    client = request.client.host if request.client else "unknown"
    log.warning("refused a Slack interactivity request from %s: %s", client, why)
    return JSONResponse({"detail": f"not a valid Slack request: {why}"}, status_code=401)


@router.post("/slack/interactivity")
async def interactivity(request: Request, service: ServiceDep, _proof: SignedRequest) -> Response:
    settings = service.settings
    if not settings.slack_app or settings.slack_signing_secret is None:
        return _refuse(request, "Slack app mode is off (no bot token or signing secret)")
    body = await request.body()
    timestamp = request.headers.get("x-slack-request-timestamp", "")
    signature = request.headers.get("x-slack-signature", "")
    verifier = SignatureVerifier(settings.slack_signing_secret.get_secret_value())
    if not timestamp or not signature:
        return _refuse(request, "no signature")
    if not verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
        return _refuse(request, "bad or stale signature")
    async with service.pool.connection() as conn:
        seen = hashlib.sha256(signature.encode()).digest()
        cur = await conn.execute(slack_sql.SEEN, (seen,))
        if await cur.fetchone() is None:
            return _refuse(request, "a replay of a request already taken")
    payload = _payload(body)
    if payload is None:
        return JSONResponse({"detail": "payload: not a Slack interactivity payload"}, 400)
    reply = await slack_interactions.handle(SlackApp(service.pool, settings), payload)
    return Response(status_code=200) if reply is None else JSONResponse(reply)


def _payload(body: bytes) -> dict[str, Any] | None:
    """The JSON in the form field ``payload``, as Slack sends it."""
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=False)
        found = json.loads(form["payload"][0])
    except (UnicodeDecodeError, KeyError, IndexError, ValueError):
        return None
    return found if isinstance(found, dict) else None
