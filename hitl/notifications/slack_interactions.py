"""What a person does in Slack, as answers: button clicks and modal submissions.

The interactivity endpoint (`hitl.api.slack`) verifies Slack's signature and hands the payload
here. The Slack user is mapped to an account (`account_of`): the one already linked to that
Slack user, else the one account whose address is the Slack user's confirmed email (then
linked), or the one its owner linked from a link Slack showed them (`hitl.notifications.
slack_links`). Unknown Slack users cannot answer. The answer goes through `hitl.requests.respond`,
like the web form's: the assignment check, first answer wins, the deadline, validation; the
audit entry says ``{"via": "slack", "slack_user": <id>}``.

A refusal is told to that person only (an ephemeral message in a channel, the reason on the
modal's field for a form): who may answer, who answered first, who claimed the request and
until when, that they voted already. A vote on a quorum request that does not decide it is
acknowledged the same way, with the votes so far. The message itself is brought up to date
for everyone by the outbox (`hitl.notifications.slack_app`), whatever door answered.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hitl import errors, headlines, quorum, requests
from hitl.auth import Principal
from hitl.auth.principal import for_user
from hitl.db.sql import slack as slack_sql
from hitl.models import Request
from hitl.notifications import choices, content, slack_blocks, slack_links
from hitl.notifications.slack_app import SlackApp, SlackCallFailed

log = logging.getLogger("hitl.notifications")

NOT_LINKED = (
    "Your Slack user is not linked to an account here, so you cannot answer from Slack yet. "
    "Ask an admin to give your account the email address of your Slack profile"
)


async def not_linked(app: SlackApp, slack_user: str) -> str:
    """What a Slack user without an account is told: with a link to link theirs, when the
    service has a public address."""
    if not app.settings.public_url:
        return NOT_LINKED + "."
    async with app.pool.connection() as conn:
        token = await slack_links.offer(conn, slack_user)
    url = f"{app.settings.public_url}/account/slack?link={token}"
    minutes = slack_links.LIFETIME // 60
    return f"{NOT_LINKED}, or <{url}|link it to your account> (within {minutes} minutes)."


def _obj(value: Any) -> Mapping[str, Any]:
    """A JSON object of the payload, or an empty one for anything else."""
    return value if isinstance(value, Mapping) else {}


async def handle(app: SlackApp, payload: Mapping[str, Any]) -> dict[str, Any] | None:
    """Act on one interactivity payload; the JSON body to answer Slack with (a modal's
    errors), or None for an empty 200."""
    user = _obj(payload.get("user"))
    slack_user = str(user.get("id") or "")
    kind = payload.get("type")
    if kind == "block_actions" and slack_user:
        await _action(app, payload, slack_user)
    elif kind == "view_submission" and slack_user:
        return await _submission(app, payload, slack_user)
    return None


async def account_of(app: SlackApp, slack_user: str) -> Principal | None:
    """The account that answers for ``slack_user``; None for someone unknown here."""
    async with app.pool.connection() as conn:
        cur = await conn.execute(slack_sql.ACCOUNT_OF_SLACK_USER, (slack_user,))
        row = await cur.fetchone()
    if row is None:
        try:
            info = await app.call("users.info", user=slack_user)
        except SlackCallFailed as exc:
            log.warning("Slack: users.info for %s failed: %s", slack_user, exc.error)
            return None
        person = _obj(info.get("user"))
        profile = _obj(person.get("profile"))
        email = profile.get("email")
        if not isinstance(email, str) or not email or person.get("is_email_confirmed") is not True:
            return None
        async with app.pool.connection() as conn:
            cur = await conn.execute(slack_sql.ACCOUNTS_OF_EMAIL, (email,))
            rows = await cur.fetchall()
            if len(rows) != 1:  # none, or an address two accounts share: not one person
                return None
            [row] = rows
            link = {"slack_user_id": slack_user, "username": row["username"]}
            await conn.execute(slack_sql.LINK_USER, link)
    if row["disabled_at"] is not None:
        return None
    return for_user(
        user_id=row["id"],
        username=row["username"],
        role=row["role"],
        groups=frozenset(row["groups"]),
        display_name=row["display_name"],
    )


def who_may(request: Request) -> str:
    """Who may answer ``request``, for a person who may not."""
    names = [*request.assignees, *(f"members of {g}" for g in request.assigned_groups)]
    if not names:
        return "Only responders and admins may answer this request."
    return f"Only {', '.join(names)} and admins may answer this request."


def refusal(exc: errors.HITLError, request: Request | None) -> str:
    """A refused answer, said to the person who tried."""
    current = getattr(exc, "request", None) or request
    if isinstance(exc, errors.RequestPastDeadline):
        return "Its deadline passed: the request's timeout policy decides now."
    if isinstance(exc, errors.RequestNotPending) and isinstance(current, Request):
        if current.responded_by and current.responded_at:
            at = current.responded_at.strftime("%H:%M UTC")
            return f"{current.responded_by} answered first, at {at}."
        return f"This request is {current.state}: no answer is needed any more."
    if isinstance(exc, errors.Claimed):
        return claimed(exc)
    if isinstance(exc, errors.AlreadyVoted):
        return (
            "You voted on this request already (one person, one vote): this click changed nothing."
        )
    if isinstance(exc, errors.NotAssigned) and request is not None:
        return who_may(request)
    if isinstance(exc, errors.SelfApproval):
        return "You asked for this request, so another person must answer it (four-eyes)."
    if isinstance(exc, errors.Forbidden):
        return "Your account cannot answer requests."
    return f"Not answered: {errors.describe(exc.detail)}"


def claimed(exc: errors.Claimed) -> str:
    """Another's claim refused the answer: who holds it, and when it times out."""
    detail = exc.detail if isinstance(exc.detail, Mapping) else {}
    who = str(detail.get("claimed_by") or "someone")
    until = str(detail.get("claim_expires_at") or "")
    try:
        until = content.when(datetime.fromisoformat(until))
    except ValueError:
        pass
    return (
        f"{who} claimed this request until {until}: only they (or an admin) may answer it "
        "before then. If they have not answered by then, you may."
    )


def vote_recorded(request: Request, votes: list[quorum.Vote]) -> str:
    """A vote that did not decide the request, acknowledged to the voter."""
    so_far = slack_blocks.tally(request, votes)
    return f"Your vote is recorded ({so_far} so far); the request waits for more votes."


async def _tell(app: SlackApp, payload: Mapping[str, Any], slack_user: str, text: str) -> None:
    channel = _obj(payload.get("channel"))
    if not channel.get("id"):
        return
    try:
        await app.call("chat.postEphemeral", channel=channel["id"], user=slack_user, text=text)
    except SlackCallFailed as exc:
        log.warning("Slack: could not tell %s why: %s", slack_user, exc.error)


def _via(slack_user: str) -> requests.Via:
    return {"via": "slack", "slack_user": slack_user}


async def _action(app: SlackApp, payload: Mapping[str, Any], slack_user: str) -> None:
    actions = payload.get("actions")
    action = actions[0] if isinstance(actions, list) and actions else {}
    action_id = str(action.get("action_id") or "") if isinstance(action, Mapping) else ""
    value = str(action.get("value") or "") if isinstance(action, Mapping) else ""
    if not action_id.startswith((slack_blocks.CHOICE, slack_blocks.FORM)):
        return  # "Review in browser" is a link: Slack tells us of the click, nothing to do
    request_id, _, index = value.partition("|")
    request: Request | None = None
    try:
        async with app.pool.connection() as conn:
            request = await requests.get(conn, request_id)
        principal = await account_of(app, slack_user)
        if principal is None:
            await _tell(app, payload, slack_user, await not_linked(app, slack_user))
            return
        if action_id == slack_blocks.FORM:
            await _open_form(app, payload, request, principal)
            return
        options = choices.of(request.response_schema, request.value)
        if not index.isdigit() or int(index) >= len(options):
            await _tell(app, payload, slack_user, "That button is out of date: reload the message.")
            return
        answered = await requests.respond(
            app.pool, request.id, options[int(index)].value, principal, via=_via(slack_user)
        )
        if answered.approval is not None and answered.state == "pending":
            async with app.pool.connection() as conn:
                votes = await requests.votes_of(conn, answered.id)
            await _tell(app, payload, slack_user, vote_recorded(answered, votes))
    except errors.HITLError as exc:
        await _tell(app, payload, slack_user, refusal(exc, request))


async def _open_form(
    app: SlackApp, payload: Mapping[str, Any], request: Request, principal: Principal
) -> None:
    if not requests.may_answer(principal, request):
        raise errors.NotAssigned(request.id)
    if request.state != "pending":
        raise errors.RequestNotPending(request.id, request.state, request)
    view = slack_blocks.modal(request, headlines.request_title(request))
    try:
        await app.call("views.open", trigger_id=str(payload.get("trigger_id") or ""), view=view)
    except SlackCallFailed as exc:
        log.warning("Slack: could not open the form of %s: %s", request.id, exc.error)


async def _submission(
    app: SlackApp, payload: Mapping[str, Any], slack_user: str
) -> dict[str, Any] | None:
    view = _obj(payload.get("view"))
    if view.get("callback_id") != slack_blocks.FORM:
        return None
    state = _obj(view.get("state"))
    values = _obj(state.get("values"))
    request: Request | None = None
    try:
        async with app.pool.connection() as conn:
            request = await requests.get(conn, str(view.get("private_metadata") or ""))
    except errors.HITLError:
        return None
    fields = slack_blocks.form_fields(request.response_schema)
    first = f"{slack_blocks.FIELD}{fields[0].name}" if fields else ""
    answer, problems = slack_blocks.answer_of(request.response_schema, values)
    if problems:
        return {"response_action": "errors", "errors": problems}
    principal = await account_of(app, slack_user)
    if principal is None:
        return {"response_action": "errors", "errors": {first: NOT_LINKED + "."}}
    try:
        answered = await requests.respond(
            app.pool, request.id, answer, principal, via=_via(slack_user)
        )
    except errors.ResponseInvalid as exc:
        detail = exc.detail if isinstance(exc.detail, list) else []
        by_block = slack_blocks.errors_by_block(detail, request.response_schema)
        return {"response_action": "errors", "errors": by_block}
    except errors.HITLError as exc:
        return {"response_action": "errors", "errors": {first: refusal(exc, request)}}
    if answered.approval is not None and answered.state == "pending":
        async with app.pool.connection() as conn:
            votes = await requests.votes_of(conn, answered.id)
        view = slack_blocks.notice(vote_recorded(answered, votes))
        return {"response_action": "update", "view": view}
    return None
