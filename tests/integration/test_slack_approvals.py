"""Claims and quorum votes in Slack app mode, against the local stand-in for Slack's Web API
(tests/support/slack_api.py) and signed interactivity requests, as tests/integration/
test_slack_app.py does: every copy says who claimed the request and until when, and stops
saying it once released; a click refused by another's claim names them and the time-out; votes
through Slack count towards a quorum, are acknowledged to the voter, counted on the copies,
and decide once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from hitl.config import Settings
from hitl.service import Service
from tests.integration.test_quorum import resumed
from tests.integration.test_slack_app import (
    CHANNEL,
    PEOPLE,
    SECRET,
    TOKEN,
    button,
    interact,
    posted,
    state_of,
)
from tests.support import auth
from tests.support.api import pending, settle, start
from tests.support.slack_api import Message, SlackAPI, block_action, view_submission

CLAIM = "hitl:claim"
VOTES = "hitl:votes"


@pytest.fixture
async def slack() -> AsyncIterator[SlackAPI]:
    async with SlackAPI(token=TOKEN, people=dict(PEOPLE)) as api:
        yield api


@pytest.fixture
def settings(settings: Settings, slack: SlackAPI) -> Settings:
    return settings.model_copy(
        update={
            "public_url": "http://hitl",
            "slack_bot_token": SecretStr(TOKEN),
            "slack_signing_secret": SecretStr(SECRET),
            "slack_channel": CHANNEL,
            "slack_api_url": slack.base_url,
            "webhook_retry_schedule": "0,0.2,0.2",
        }
    )


async def person(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient], name: str
) -> httpx.AsyncClient:
    """A browser signed in as a new responder ``name``, whose address Slack knows
    (``<name>@example.com``: `PEOPLE`), so their Slack user answers as them."""
    password = await auth.make_user(client, name, email=f"{name}@example.com")
    session = client_for()
    session.headers["X-CSRF-Token"] = await auth.sign_in(session, name, password)
    return session


def context(blocks: list[dict[str, Any]], block_id: str) -> str | None:
    """The text of the context block ``block_id``, if the message has one."""
    for block in blocks:
        if block.get("type") == "context" and block.get("block_id") == block_id:
            return str(block["elements"][0]["text"])
    return None


def minute(at: str) -> str:
    return datetime.fromisoformat(at).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


async def told(slack: SlackAPI, user: str, count: int) -> str:
    """The ``count``-th ephemeral message to ``user``."""
    calls = await slack.wait_for("chat.postEphemeral", count, user=user)
    return str(calls[-1].params["text"])


async def test_every_copy_says_who_claimed_it_until_when_and_forgets_it_when_released(
    client: httpx.AsyncClient,
    client_for: Callable[..., httpx.AsyncClient],
    slack: SlackAPI,
) -> None:
    ana = await person(client, client_for, "ana")
    await person(client, client_for, "bob")
    thread_id = await start(client, "timed", {"terms": {"assignees": ["ana", "bob"]}})
    assert (await settle(client, thread_id))["status"] == "interrupted"
    [request] = await pending(client, thread_id)
    rid = request["id"]
    messages = await posted(slack, 3)  # the channel, ana's and bob's direct messages
    assert set(messages) == {CHANNEL, "D0ANA", "D0BOB"}
    assert all(context(m.blocks, CLAIM) is None for m in messages.values())

    r = await ana.post(f"/api/v1/requests/{rid}/claim")
    assert r.status_code == 200, r.text
    line = f":lock: Claimed by ana until {minute(r.json()['claim_expires_at'])}"
    # chat.update rewrites each copy with the claim line; the buttons stay (it waits).
    await slack.until(lambda: all(context(m.blocks, CLAIM) for m in messages.values()))
    updates = slack.of("chat.update")
    assert {(c.params["channel"], c.params["ts"]) for c in updates} == {
        (m.channel, m.ts) for m in messages.values()
    }
    assert all(context(c.params["blocks"], CLAIM) == line for c in updates)
    for message in messages.values():
        assert context(message.blocks, CLAIM) == line
        assert message.action_ids() == ["hitl:choice:0", "hitl:choice:1", "hitl:open"]

    # bob clicks Approve: refused, told privately who holds it and until when.
    slack_http = client_for()
    card = messages[CHANNEL]
    r = await interact(slack_http, block_action("U0BOB", card, button(card, "Approve")))
    assert r.status_code == 200
    said = await told(slack, "U0BOB", 1)
    assert said.startswith(f"ana claimed this request until {line.split(' until ')[1]}")
    assert "only they (or an admin) may answer it" in said
    assert (await state_of(client, rid))["state"] == "pending"

    # Released: every copy is rewritten without the line.
    seen = len(slack.of("chat.update"))
    assert (await ana.post(f"/api/v1/requests/{rid}/unclaim")).status_code == 200
    await slack.until(lambda: all(context(m.blocks, CLAIM) is None for m in messages.values()))
    released = {(c.params["channel"], c.params["ts"]): c for c in slack.of("chat.update")[seen:]}
    assert set(released) == {(m.channel, m.ts) for m in messages.values()}
    assert all(context(c.params["blocks"], CLAIM) is None for c in released.values())

    # Now bob's click answers; the copies say so, with no claim line.
    r = await interact(slack_http, block_action("U0BOB", card, button(card, "Approve")))
    assert r.status_code == 200
    assert (await state_of(client, rid))["responded_by"] == "bob"
    await slack.until(lambda: all(m.action_ids() == ["hitl:open"] for m in messages.values()))
    assert all("*Approve* by bob" in m.blocks[0]["text"]["text"] for m in messages.values())


def tally(message: Message) -> str | None:
    return context(message.blocks, VOTES)


async def votes_in_db(database_url: str, request_id: str) -> list[tuple[str, Any, str]]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(
            "SELECT voter, decision, via FROM hitl_request_votes WHERE request_id = %s"
            " ORDER BY created_at",
            (request_id,),
        )
        return [tuple(row) for row in await cur.fetchall()]  # type: ignore[misc]


async def quorum_card(
    client: httpx.AsyncClient, slack: SlackAPI, posts: int, **given: Any
) -> dict[str, Any]:
    """A quorum request (two approvals, any reject vetoes) and its channel message, once the
    ``posts``-th message was posted."""
    thread_id = await start(client, "quorum", given)
    await settle(client, thread_id)
    [request] = await pending(client, thread_id)
    await slack.wait_for("chat.postMessage", posts)
    [card] = [
        m
        for m in slack.messages.values()
        if m.channel == CHANNEL and request["id"] in str(m.blocks)
    ]
    return {"request": request, "card": card}


async def test_two_mapped_slack_users_votes_decide_a_quorum_once(
    client: httpx.AsyncClient,
    client_for: Callable[..., httpx.AsyncClient],
    service: Service,
    slack: SlackAPI,
    database_url: str,
) -> None:
    await person(client, client_for, "ana")
    await person(client, client_for, "bob")
    asked = await quorum_card(client, slack, 1)
    request, card = asked["request"], asked["card"]
    rid = request["id"]
    assert request["approval"]["min"] == 2
    assert tally(card) == ":ballot_box_with_ballot: 0 of 2 approvals"
    slack_http = client_for()
    approve = button(card, "Approve")

    # ana's vote: recorded, acknowledged to her, counted on the copy; the request waits.
    r = await interact(slack_http, block_action("U0ANA", card, approve))
    assert r.status_code == 200
    assert (await told(slack, "U0ANA", 1)) == (
        "Your vote is recorded (1 of 2 approvals so far); the request waits for more votes."
    )
    assert (await state_of(client, rid))["state"] == "pending"
    await slack.until(lambda: tally(card) == ":ballot_box_with_ballot: 1 of 2 approvals")
    assert card.action_ids() == ["hitl:choice:0", "hitl:choice:1", "hitl:open"]

    # ana clicks again: told she voted already; nothing changes.
    r = await interact(slack_http, block_action("U0ANA", card, approve))
    assert r.status_code == 200
    again = await told(slack, "U0ANA", 2)
    assert "You voted on this request already (one person, one vote)" in again
    assert await votes_in_db(database_url, rid) == [("ana", "approve", "slack")]
    assert (await state_of(client, rid))["state"] == "pending"

    # bob's vote decides it: the thread resumes once with both votes, through Slack.
    r = await interact(slack_http, block_action("U0BOB", card, approve))
    assert r.status_code == 200
    answered = await state_of(client, rid)
    assert answered["state"] in ("responded", "resumed") and answered["responded_by"] == "bob"
    assert [(v["by"], v["decision"], v["via"]) for v in answered["response"]["votes"]] == [
        ("ana", "approve", "slack"),
        ("bob", "approve", "slack"),
    ]
    [(step, value)] = await resumed(client, database_url, request["thread_id"])
    assert step == "decided" and value["decision"] == "approve"
    assert await votes_in_db(database_url, rid) == [
        ("ana", "approve", "slack"),
        ("bob", "approve", "slack"),
    ]
    assert len(slack.of("chat.postEphemeral")) == 2  # bob's deciding vote needs no word
    await slack.until(lambda: card.action_ids() == ["hitl:open"])
    assert "*Approve* by ana and bob" in card.blocks[0]["text"]["text"] and tally(card) is None
    audit = (await client.get("/api/v1/audit", params={"subject": rid})).json()["items"]
    assert sorted(e["data"]["via"] for e in audit if e["action"] == "request.vote") == [
        "slack",
        "slack",
    ]


async def test_a_reject_vote_through_slack_vetoes_at_once(
    client: httpx.AsyncClient,
    client_for: Callable[..., httpx.AsyncClient],
    slack: SlackAPI,
    database_url: str,
) -> None:
    await person(client, client_for, "ana")
    asked = await quorum_card(client, slack, 1)
    request, card = asked["request"], asked["card"]
    r = await interact(client_for(), block_action("U0ANA", card, button(card, "Reject")))
    assert r.status_code == 200
    answered = await state_of(client, request["id"])
    assert answered["state"] in ("responded", "resumed")
    assert answered["response"]["decision"] == "reject"
    assert [(v["by"], v["via"]) for v in answered["response"]["votes"]] == [("ana", "slack")]
    [(_, value)] = await resumed(client, database_url, request["thread_id"])
    assert value["decision"] == "reject"
    await slack.until(lambda: card.action_ids() == ["hitl:open"])
    assert "*Reject* by ana" in card.blocks[0]["text"]["text"]
    assert slack.of("chat.postEphemeral") == []  # decided: nothing to acknowledge


TICKETED = {
    "type": "object",
    "properties": {
        "decision": {"enum": ["approve", "reject"]},
        "ticket": {"type": "string", "maxLength": 20},
    },
    "required": ["decision", "ticket"],
}


async def test_a_vote_from_a_slack_modal_is_acknowledged_in_the_modal(
    client: httpx.AsyncClient,
    client_for: Callable[..., httpx.AsyncClient],
    slack: SlackAPI,
    database_url: str,
) -> None:
    await person(client, client_for, "ana")
    asked = await quorum_card(client, slack, 1, schema=TICKETED)
    request, card = asked["request"], asked["card"]
    assert card.action_ids() == ["hitl:form", "hitl:open"]  # two fields: a form
    slack_http = client_for()
    r = await interact(slack_http, block_action("U0ANA", card, button(card, "Answer…")))
    assert r.status_code == 200
    [opened] = await slack.wait_for("views.open", 1)
    values = {
        "field:decision": {"value": {"type": "static_select", "selected_option": {"value": "0"}}},
        "field:ticket": {"value": {"type": "plain_text_input", "value": "CHG-42"}},
    }
    r = await interact(slack_http, view_submission("U0ANA", opened.params["view"], values))
    assert r.status_code == 200 and r.json()["response_action"] == "update"
    view = r.json()["view"]
    assert view["type"] == "modal" and "submit" not in view
    assert "Your vote is recorded (1 of 2 approvals so far)" in str(view["blocks"])
    assert await votes_in_db(database_url, request["id"]) == [("ana", "approve", "slack")]
    await slack.until(lambda: tally(card) == ":ballot_box_with_ballot: 1 of 2 approvals")
