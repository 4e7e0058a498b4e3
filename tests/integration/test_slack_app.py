"""Slack app mode against a local stand-in for Slack's Web API (tests/support/slack_api.py):
where requests are posted, answering with buttons and in a modal through signed interactivity
requests, refusals, and every copy brought up to date after any answer."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from hitl.config import Settings
from hitl.service import Service
from tests.support import auth
from tests.support.api import asked, audit_of, external_request, settle, start, travel
from tests.support.slack_api import Message, SlackAPI, block_action, signed, view_submission
from tests.support.users import add_user

BASE = "http://hitl"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # the signing secret (Slack's documented example)
TOKEN = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"
CHANNEL = "C0APPROVALS"
PEOPLE = {"ana@example.com": "U0ANA", "bob@example.com": "U0BOB", "cy@example.com": "U0CY"}


@pytest.fixture
async def slack() -> AsyncIterator[SlackAPI]:
    async with SlackAPI(token=TOKEN, people=dict(PEOPLE), unconfirmed={"U0CY"}) as api:
        yield api


@pytest.fixture
def settings(settings: Settings, slack: SlackAPI) -> Settings:
    return settings.model_copy(
        update={
            "public_url": BASE,
            "slack_bot_token": SecretStr(TOKEN),
            "slack_signing_secret": SecretStr(SECRET),
            "slack_channel": CHANNEL,
            "slack_api_url": slack.base_url,
            "webhook_retry_schedule": "0,0.2,0.2",
            "webhook_allow_networks": "127.0.0.0/8",
        }
    )


async def interact(http: httpx.AsyncClient, payload: dict[str, Any], **how: Any) -> httpx.Response:
    body, headers = signed(SECRET, payload, **how)
    return await http.post("/slack/interactivity", content=body, headers=headers)


async def ask_ana(client: httpx.AsyncClient) -> dict[str, Any]:
    return await asked(client, "timed", assignees=["ana"])


async def posted(slack: SlackAPI, count: int) -> dict[str, Message]:
    """The messages once ``count`` were posted, by channel."""
    await slack.wait_for("chat.postMessage", count)
    return {m.channel: m for m in slack.messages.values()}


def button(message: Message, label: str) -> dict[str, Any]:
    [found] = [b for b in message.buttons() if b["text"]["text"] == label]
    return found


async def state_of(client: httpx.AsyncClient, request_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/requests/{request_id}")
    assert r.status_code == 200
    found: dict[str, Any] = r.json()
    return found


async def test_buttons_answer_as_the_mapped_person_and_every_copy_is_updated(
    client: httpx.AsyncClient,
    client_for: Callable[..., httpx.AsyncClient],
    service: Service,
    slack: SlackAPI,
) -> None:
    await add_user(service.pool, "ana")
    await add_user(service.pool, "bob")
    request = await ask_ana(client)
    messages = await posted(slack, 2)
    # The channel, and ana's direct message (her Slack user found by her email).
    assert set(messages) == {CHANNEL, "D0ANA"}
    [lookup] = slack.of("users.lookupByEmail")
    assert lookup.params == {"email": "ana@example.com"}
    card = messages[CHANNEL]
    assert card.action_ids() == ["hitl:choice:0", "hitl:choice:1", "hitl:open"]
    assert button(card, "Approve")["style"] == "primary"
    assert button(card, "Review in browser")["url"] == f"{BASE}/requests/{request['id']}"
    assert "approve?" in card.text
    stale = block_action("U0ANA", card, button(card, "Reject"))  # a click on the card as it was
    slack_http = client_for()  # Slack's requests carry no session and no key

    # bob may not answer (the request is ana's): told so, privately; nothing changes.
    r = await interact(slack_http, block_action("U0BOB", card, button(card, "Approve")))
    assert r.status_code == 200
    [told] = await slack.wait_for("chat.postEphemeral", 1)
    assert told.params["user"] == "U0BOB" and told.params["channel"] == CHANNEL
    assert "Only ana and admins may answer" in told.params["text"]
    assert (await state_of(client, request["id"]))["state"] == "pending"

    # ana answers from her direct message.
    dm = messages["D0ANA"]
    r = await interact(slack_http, block_action("U0ANA", dm, button(dm, "Approve")))
    assert r.status_code == 200 and r.content == b""
    answered = await state_of(client, request["id"])
    assert (answered["response"], answered["responded_by"]) == ({"decision": "approve"}, "ana")
    [entry] = await audit_of(service, request["id"])
    assert entry["data"] == {
        "response": {"decision": "approve"},
        "via": "slack",
        "slack_user": "U0ANA",
    }

    # Both copies are rewritten: no buttons to press but the link, who answered and when.
    await slack.until(lambda: all(m.updates for m in slack.messages.values()))
    for message in slack.messages.values():
        assert message.action_ids() == ["hitl:open"]
        assert "*Approve* by ana at" in message.blocks[0]["text"]["text"]
        assert "(responded)" in message.text or "(resumed)" in message.text

    # A stale card clicked again: told who answered first; still one answer.
    r = await interact(slack_http, stale)
    assert r.status_code == 200
    [_, again] = await slack.wait_for("chat.postEphemeral", 2)
    assert "ana answered first" in again.params["text"]
    assert len(await audit_of(service, request["id"])) == 1


async def test_unsigned_stale_replayed_and_unknown_requests_change_nothing(
    client: httpx.AsyncClient,
    client_for: Callable[..., httpx.AsyncClient],
    service: Service,
    slack: SlackAPI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await add_user(service.pool, "ana")
    await add_user(service.pool, "cy")
    request = await ask_ana(client)
    card = (await posted(slack, 2))[CHANNEL]
    click = block_action("U0ANA", card, button(card, "Approve"))
    slack_http = client_for()
    caplog.set_level(logging.WARNING, "hitl.slack")

    body, headers = signed(SECRET, click)
    refused = {
        "no signature": await slack_http.post(
            "/slack/interactivity", content=body, headers={"content-type": headers["content-type"]}
        ),
        "wrong secret": await interact(slack_http, click, sign_with="not-the-secret"),
        "stale": await interact(slack_http, click, at=time.time() - 6 * 60),
        "tampered": await slack_http.post(
            "/slack/interactivity", content=body.replace(b"U0ANA", b"U0BOB"), headers=headers
        ),
    }
    for why, r in refused.items():
        assert r.status_code == 401, why
        assert r.json()["detail"].startswith("not a valid Slack request"), why
    assert (await state_of(client, request["id"]))["state"] == "pending"
    logged = [r.getMessage() for r in caplog.records if r.name == "hitl.slack"]
    assert len(logged) == 4 and all("refused a Slack interactivity request" in m for m in logged)

    # Someone Slack knows but this service does not, or whose email Slack has not confirmed.
    for stranger in ("U0ZED", "U0CY"):
        r = await interact(slack_http, block_action(stranger, card, button(card, "Approve")))
        assert r.status_code == 200
    told = await slack.wait_for("chat.postEphemeral", 2)
    assert all("not linked to an account" in t.params["text"] for t in told)
    assert (await state_of(client, request["id"]))["state"] == "pending"

    # The signed click is taken once; the same request sent again is a replay.
    first = await slack_http.post("/slack/interactivity", content=body, headers=headers)
    assert first.status_code == 200
    replay = await slack_http.post("/slack/interactivity", content=body, headers=headers)
    assert replay.status_code == 401 and "replay" in replay.json()["detail"]
    assert len(await audit_of(service, request["id"])) == 1


async def external(client: httpx.AsyncClient, schema: dict[str, Any], **extra: Any) -> str:
    body = {"title": "Refund the order?", "response_schema": schema, **extra}
    return str((await external_request(client, **body))["id"])


REFUND = {
    "type": "object",
    "properties": {
        "amount": {"type": "integer", "minimum": 1, "title": "Amount (EUR)"},
        "reason": {"type": "string", "maxLength": 80},
        "notify": {"type": "boolean"},
    },
    "required": ["amount"],
}


async def test_a_small_form_opens_a_modal_validated_with_the_same_reasons(
    client: httpx.AsyncClient,
    client_for: Callable[..., httpx.AsyncClient],
    service: Service,
    slack: SlackAPI,
) -> None:
    await add_user(service.pool, "ana")
    request_id = await external(client, REFUND, routing={"assignees": ["ana"]})
    messages = await posted(slack, 2)
    card = messages[CHANNEL]
    assert card.action_ids() == ["hitl:form", "hitl:open"]
    slack_http = client_for()

    r = await interact(slack_http, block_action("U0ANA", card, button(card, "Answer…")))
    assert r.status_code == 200
    [opened] = await slack.wait_for("views.open", 1)
    assert opened.params["trigger_id"] == "13345224609.738474920"
    view = opened.params["view"]
    assert (view["type"], view["callback_id"], view["private_metadata"]) == (
        "modal",
        "hitl:form",
        request_id,
    )
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert {k: (v["element"]["type"], v["optional"]) for k, v in inputs.items()} == {
        "field:amount": ("number_input", False),
        "field:reason": ("plain_text_input", True),
        "field:notify": ("radio_buttons", True),
    }
    assert inputs["field:amount"]["label"]["text"] == "Amount (EUR)"

    def values(amount: str, notify: str | None = None) -> dict[str, Any]:
        found: dict[str, Any] = {
            "field:amount": {"value": {"type": "number_input", "value": amount}},
            "field:reason": {"value": {"type": "plain_text_input", "value": "damaged"}},
        }
        if notify is not None:
            option = {"text": {"type": "plain_text", "text": "Yes"}, "value": notify}
            found["field:notify"] = {"value": {"type": "radio_buttons", "selected_option": option}}
        return found

    # The service's own 422 reason, on the field, in the modal; nothing answered.
    r = await interact(slack_http, view_submission("U0ANA", view, values("0")))
    assert r.status_code == 200
    assert r.json()["response_action"] == "errors"
    assert list(r.json()["errors"]) == ["field:amount"]
    assert "minimum of 1" in r.json()["errors"]["field:amount"]
    r = await interact(slack_http, view_submission("U0ANA", view, values("2.5")))
    assert r.json()["errors"] == {"field:amount": "must be a whole number"}
    assert (await state_of(client, request_id))["state"] == "pending"

    r = await interact(slack_http, view_submission("U0ANA", view, values("25", "true")))
    assert r.status_code == 200 and r.content == b""  # the modal closes
    answered = await state_of(client, request_id)
    assert answered["response"] == {"amount": 25, "reason": "damaged", "notify": True}
    assert answered["responded_by"] == "ana"
    await slack.until(lambda: all(m.updates for m in slack.messages.values()))
    assert all(m.action_ids() == ["hitl:open"] for m in slack.messages.values())
    assert "*Answered* by ana" in slack.messages[(CHANNEL, card.ts)].blocks[0]["text"]["text"]

    # Too late: the modal says who answered first.
    r = await interact(slack_http, view_submission("U0ANA", view, values("30")))
    assert "ana answered first" in r.json()["errors"]["field:amount"]


async def test_answers_from_other_doors_and_expiry_update_the_slack_copies(
    client: httpx.AsyncClient, service: Service, slack: SlackAPI
) -> None:
    await add_user(service.pool, "ana")
    answered_id = await external(client, {"enum": ["ship", "hold"]})
    expiring_id = await external(client, {"enum": ["ship", "hold"]}, timeout_seconds=1)
    await slack.wait_for("chat.postMessage", 2)  # the channel only: no assignees
    assert {m.channel for m in slack.messages.values()} == {CHANNEL}
    r = await client.post(f"/api/v1/requests/{answered_id}/respond", json={"response": "hold"})
    assert r.status_code == 200, r.text

    def updated(request_id: str) -> Message | None:
        for m in slack.messages.values():
            if m.updates and any(request_id in str(b) for b in m.blocks):
                return m
        return None

    await slack.until(lambda: updated(answered_id) and updated(expiring_id))
    web = updated(answered_id)
    assert web is not None and "*Hold* by key:tests" in web.blocks[0]["text"]["text"]
    expired = updated(expiring_id)
    assert expired is not None and "Expired at" in expired.blocks[0]["text"]["text"]
    # Every copy, reminders' too, ends without buttons.
    await slack.until(lambda: all(m.action_ids() == ["hitl:open"] for m in slack.messages.values()))


async def test_a_post_that_fails_part_way_is_retried_for_the_destinations_it_missed(
    client: httpx.AsyncClient, service: Service, slack: SlackAPI
) -> None:
    await add_user(service.pool, "ana")
    await add_user(service.pool, "dan")  # no Slack user with this address: left out
    # The channel takes the message; ana's direct message is rate limited; the retry
    # reaches ana, and posts to the channel no second time.
    slack.fail["chat.postMessage"] = [None, (429, 0)]
    thread_id = await start(client, "timed", {"terms": {"assignees": ["ana", "dan"]}})
    assert (await settle(client, thread_id))["status"] == "interrupted"
    await slack.until(lambda: len(slack.messages) == 2)
    assert sorted(m.channel for m in slack.messages.values()) == [CHANNEL, "D0ANA"]
    posts = slack.of("chat.postMessage")
    assert [c.params["channel"] for c in posts] == [CHANNEL, "U0ANA", "U0ANA"]
    async with asyncio.timeout(20), service.pool.connection() as conn:
        while True:  # the outcome is recorded after the post
            cur = await conn.execute(
                "SELECT status, attempts FROM hitl_notifications WHERE recipient = 'slack'"
            )
            note = await cur.fetchone()
            if note is not None and note["status"] != "sending":
                break
            await asyncio.sleep(0.05)
        assert note == {"status": "sent", "attempts": 2}
        cur = await conn.execute("SELECT username, slack_user_id FROM hitl_users ORDER BY 1")
        linked = {r["username"]: r["slack_user_id"] for r in await cur.fetchall()}
    assert linked["ana"] == "U0ANA" and linked["dan"] is None


async def test_a_slack_user_links_itself_to_an_account_from_the_link_slack_shows(
    client: httpx.AsyncClient,
    client_for: Callable[..., httpx.AsyncClient],
    service: Service,
    slack: SlackAPI,
) -> None:
    await add_user(service.pool, "ana")
    password = await auth.make_user(client, "zed", role="admin", email="zed@elsewhere.example")
    browser = client_for()
    csrf = await auth.sign_in(browser, "zed", password)
    request = await ask_ana(client)
    card = (await posted(slack, 2))[CHANNEL]
    approve = button(card, "Approve")

    def click() -> dict[str, Any]:  # each click is its own request (its own action_ts)
        return block_action("U0ZED", card, approve)  # a Slack user Slack knows no address of

    slack_http = client_for()

    assert (await interact(slack_http, click())).status_code == 200
    [told] = await slack.wait_for("chat.postEphemeral", 1)
    assert "not linked to an account" in told.params["text"]
    [link] = re.findall(r"<(http://hitl/account/slack\?link=[^|>]+)\|", told.params["text"])

    # Opening it, signed in, shows whom it links and changes nothing.
    page = await browser.get(link)
    assert page.status_code == 200 and "<code data-slack-user>U0ZED</code>" in page.text
    assert "zed" in page.text
    assert (await interact(slack_http, click())).status_code == 200
    await slack.wait_for("chat.postEphemeral", 2)
    assert (await state_of(client, request["id"]))["state"] == "pending"

    token = link.split("link=", 1)[1]
    done = await browser.post("/account/slack/link", data={"link": token, "_csrf": csrf})
    assert done.status_code == 303
    account = await browser.get("/account")
    assert "<code data-slack-user>U0ZED</code>" in account.text
    again = await browser.post("/account/slack/link", data={"link": token, "_csrf": csrf})
    assert again.status_code == 404 and "not valid any more" in again.text  # used once

    # Now U0ZED answers as zed (an admin may answer anything).
    assert (await interact(slack_http, click())).status_code == 200
    answered = await state_of(client, request["id"])
    assert answered["responded_by"] == "zed"

    r = await browser.post("/account/slack/unlink", data={"_csrf": csrf})
    assert r.status_code == 303
    assert "data-slack-user" not in (await browser.get("/account")).text
    async with service.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT action, data FROM hitl_audit WHERE action LIKE 'account.slack%%' ORDER BY id"
        )
        assert await cur.fetchall() == [
            {"action": "account.slack_link", "data": {"slack_user": "U0ZED"}},
            {"action": "account.slack_unlink", "data": {"slack_user": "U0ZED"}},
        ]


async def test_an_escalation_updates_the_copies_and_posts_for_the_new_people(
    client: httpx.AsyncClient, service: Service, slack: SlackAPI
) -> None:
    await add_user(service.pool, "ana")
    await add_user(service.pool, "bob")
    escalate = {"action": "escalate", "to": {"assignees": ["bob"]}, "extend_seconds": 3600}
    request_id = await external(
        client,
        {"enum": ["ship", "hold"]},
        routing={"assignees": ["ana"]},
        timeout_seconds=1,
        on_timeout=escalate,
    )
    # Posted to the channel and ana; at the deadline, to the channel again and to bob, and
    # the first two copies now say it was escalated (still with their buttons: it waits).
    await slack.until(lambda: {m.channel for m in slack.messages.values()} >= {"D0BOB"})
    await slack.until(
        lambda: all(
            m.updates and "escalated" in m.blocks[0]["text"]["text"]
            for m in slack.messages.values()
            if m.channel == "D0ANA"
        )
    )
    for ana_copy in (m for m in slack.messages.values() if m.channel == "D0ANA"):
        assert ana_copy.action_ids() == ["hitl:choice:0", "hitl:choice:1", "hitl:open"]
    request = await state_of(client, request_id)
    assert (request["state"], request["assignees"]) == ("pending", ["bob"])


async def test_a_reminder_is_a_reply_under_the_first_copy(
    client: httpx.AsyncClient, service: Service, slack: SlackAPI
) -> None:
    await add_user(service.pool, "ana")
    request_id = await external(
        client,
        {"enum": ["ship", "hold"]},
        timeout_seconds=3600,
        reminders=[0.5],
        routing={"assignees": ["ana"]},
    )
    await slack.wait_for("chat.postMessage", 2)  # the channel and ana's direct message
    first = {m.channel: m for m in slack.messages.values()}
    assert set(first) == {CHANNEL, "D0ANA"} and all(m.thread_ts is None for m in first.values())

    await travel(service, request_id, 2000)  # half way: the reminder is due
    posts = await slack.wait_for("chat.postMessage", 4)
    replies = [m for m in slack.messages.values() if m.thread_ts is not None]
    assert {(m.channel, m.thread_ts) for m in replies} == {
        (channel, m.ts) for channel, m in first.items()
    }
    assert all(p.params["thread_ts"] for p in posts[2:])
    assert all("Reminder" in m.text for m in replies)

    # the replies are copies like the others: an answer updates them too
    r = await client.post(f"/api/v1/requests/{request_id}/respond", json={"response": "hold"})
    assert r.status_code == 200, r.text
    await slack.until(lambda: all(m.action_ids() == ["hitl:open"] for m in slack.messages.values()))


async def test_a_reminder_whose_first_copy_is_gone_is_posted_anew(
    client: httpx.AsyncClient, service: Service, slack: SlackAPI
) -> None:
    request_id = await external(
        client, {"enum": ["ship", "hold"]}, timeout_seconds=3600, reminders=[0.5]
    )
    await slack.wait_for("chat.postMessage", 1)
    slack.messages.clear()  # deleted in Slack
    await travel(service, request_id, 2000)  # half way: the reminder is due
    posts = await slack.wait_for("chat.postMessage", 3)
    assert posts[1].params["thread_ts"] and "thread_ts" not in posts[2].params
    [anew] = slack.messages.values()
    assert anew.channel == CHANNEL and anew.thread_ts is None and "Reminder" in anew.text
