"""One-click answers from email (a local aiosmtpd server): the buttons' links open a page that
changes nothing; confirming answers once, as the recipient, through the one answer path; a
spent, expired or refused link says how things stand; a claim shows in the emails and on the
page before anyone confirms."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from hitl.config import Settings
from hitl.service import Service
from tests.support import auth
from tests.support.api import (
    asked,
    audit_of,
    external_request,
    pending,
    settle,
    start,
    travel,
)
from tests.support.smtp import Mail, SMTPSink, mailing
from tests.support.users import add_user

BASE = "http://hitl"  # the test client's base URL: the links are followed as they are
LINK = re.compile(r'href="(http://hitl/answer/[^"]+)"[^>]*>([^<]+)</a>')


@pytest.fixture
def public_url() -> str | None:
    return BASE


@pytest.fixture
def settings(settings: Settings, smtp_port: int, public_url: str | None) -> Settings:
    return mailing(settings, smtp_port, public_url=public_url, webhook_retry_schedule="0,0.2")


def buttons(mail: Mail) -> dict[str, str]:
    """The answer buttons of a message, label -> link, as the HTML part has them."""
    return {label: link for link, label in LINK.findall(mail.html)}


async def ask(client: httpx.AsyncClient, **terms: Any) -> dict[str, Any]:
    return await asked(client, "timed", **terms)


async def test_a_button_opens_a_page_that_changes_nothing_and_confirming_answers_once(
    client: httpx.AsyncClient,
    client_for: Callable[..., httpx.AsyncClient],
    service: Service,
    smtp: SMTPSink,
) -> None:
    ana = await add_user(service.pool, "ana")
    request = await ask(client, assignees=["ana"])
    [mail] = await smtp.wait_for(1)
    assert mail.rcpt_tos == [ana]
    links = buttons(mail)
    assert set(links) == {"Approve", "Reject"}
    assert links["Approve"] in mail.text and links["Reject"] in mail.text
    assert f"Open it: {BASE}/requests/{request['id']}" in mail.text  # the link stays
    browser = client_for()  # nobody signed in: the link is the proof

    # A scanner or a preview fetches the link: nothing is answered.
    for _ in range(2):
        page = await browser.get(links["Approve"])
        assert page.status_code == 200
        assert "approve?" in page.text and "Confirm: Approve" in page.text
        assert "as <strong data-person>ana</strong>" in page.text
    assert (await client.get(f"/api/v1/requests/{request['id']}")).json()["state"] == "pending"
    assert await audit_of(service, request["id"]) == []

    done = await browser.post(links["Approve"])
    assert done.status_code == 200 and 'data-outcome="done"' in done.text
    answered = (await client.get(f"/api/v1/requests/{request['id']}")).json()
    assert answered["state"] in ("responded", "resumed")
    assert (answered["response"], answered["responded_by"]) == ({"decision": "approve"}, "ana")
    [entry] = await audit_of(service, request["id"])
    assert entry["actor"] == "ana"
    assert entry["data"] == {"response": {"decision": "approve"}, "via": "email"}

    # The same link again, and the other button: each says who answered, and nothing changes.
    again = await browser.post(links["Approve"])
    assert again.status_code == 409 and 'data-outcome="spent"' in again.text
    assert "answered by ana" in again.text
    other = await browser.post(links["Reject"])
    assert other.status_code == 409 and 'data-outcome="answered"' in other.text
    assert "ana answered first" in other.text
    look = await browser.get(links["Reject"])
    assert look.status_code == 409 and "ana answered first" in look.text
    assert len(await audit_of(service, request["id"])) == 1
    final = (await client.get(f"/api/v1/requests/{request['id']}")).json()
    assert final["response"] == {"decision": "approve"}


async def test_links_are_per_recipient_single_use_stored_hashed_and_expire(
    client: httpx.AsyncClient,
    client_for: Callable[..., httpx.AsyncClient],
    service: Service,
    smtp: SMTPSink,
) -> None:
    ana = await add_user(service.pool, "ana")
    bob = await add_user(service.pool, "bob", groups=("ops",))
    request = await ask(client, assignees=["ana"], assigned_groups=["ops"], timeout_seconds=3600)
    mails = {m.rcpt_tos[0]: m for m in await smtp.wait_for(2)}
    ana_links, bob_links = buttons(mails[ana]), buttons(mails[bob])
    assert ana_links["Approve"] != bob_links["Approve"]  # one token per person per choice

    async with service.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT t.token_hash, t.expires_at, t.label, u.username, r.deadline_at"
            " FROM hitl_answer_tokens t JOIN hitl_users u ON u.id = t.user_id"
            " JOIN hitl_requests r ON r.id = t.request_id"
        )
        rows = await cur.fetchall()
    assert sorted((r["username"], r["label"]) for r in rows) == [
        ("ana", "Approve"),
        ("ana", "Reject"),
        ("bob", "Approve"),
        ("bob", "Reject"),
    ]
    assert all(r["expires_at"] == r["deadline_at"] for r in rows)  # at the deadline
    token = ana_links["Approve"].rsplit("/", 1)[1]
    assert all(token.encode() not in bytes(r["token_hash"]) for r in rows)
    assert all(len(bytes(r["token_hash"])) == 32 for r in rows)  # a SHA-256, never the token

    browser = client_for()
    # Ana's link expires: it can neither answer nor be confirmed.
    async with service.pool.connection() as conn:
        await conn.execute(
            "UPDATE hitl_answer_tokens SET expires_at = now() - interval '1 second'"
            " WHERE user_id = (SELECT id FROM hitl_users WHERE username = 'ana')"
        )
    look = await browser.get(ana_links["Approve"])
    assert look.status_code == 410 and 'data-outcome="expired"' in look.text
    expired = await browser.post(ana_links["Approve"])
    assert expired.status_code == 410 and 'data-outcome="expired"' in expired.text
    assert (await client.get(f"/api/v1/requests/{request['id']}")).json()["state"] == "pending"

    # A made-up or mangled token names nothing.
    for wrong in (ana_links["Approve"] + "x", f"{BASE}/answer/" + "a" * 300):
        assert (await browser.post(wrong)).status_code == 404
        assert (await browser.get(wrong)).status_code == 404

    # Bob's link answers, as bob (a member of the assigned group).
    done = await browser.post(bob_links["Reject"])
    assert done.status_code == 200, done.text
    answered = (await client.get(f"/api/v1/requests/{request['id']}")).json()
    assert (answered["response"], answered["responded_by"]) == ({"decision": "reject"}, "bob")


async def test_a_link_whose_person_may_no_longer_answer_changes_nothing(
    client: httpx.AsyncClient,
    client_for: Callable[..., httpx.AsyncClient],
    service: Service,
    smtp: SMTPSink,
) -> None:
    await add_user(service.pool, "ana")
    await add_user(service.pool, "cy")
    request = await ask(client, assignees=["ana"])
    links = buttons((await smtp.wait_for(1))[0])
    r = await client.post(f"/api/v1/requests/{request['id']}/assign", json={"assignees": ["cy"]})
    assert r.status_code == 200, r.text
    refused = await client_for().post(links["Approve"])
    assert refused.status_code == 403 and 'data-outcome="refused"' in refused.text
    assert "assigned to others" in refused.text
    assert (await client.get(f"/api/v1/requests/{request['id']}")).json()["state"] == "pending"
    async with service.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) AS n FROM hitl_answer_tokens WHERE used_at IS NOT NULL"
        )
        row = await cur.fetchone()
    assert row is not None and row["n"] == 0  # a refused answer leaves the link unspent


@pytest.mark.parametrize("public_url", [None])
async def test_without_a_public_url_emails_carry_the_link_only_and_say_why(
    client: httpx.AsyncClient, service: Service, smtp: SMTPSink, caplog: pytest.LogCaptureFixture
) -> None:
    await add_user(service.pool, "ana")
    request = await ask(client, assignees=["ana"])
    [mail] = await smtp.wait_for(1)
    assert buttons(mail) == {} and "/answer/" not in mail.text
    assert f"/requests/{request['id']}" in mail.text
    said = [r.getMessage() for r in caplog.get_records("setup")]  # when the service started
    assert any("HITL_PUBLIC_URL is not set" in m and "answer buttons" in m for m in said)


async def test_requests_without_choices_keep_the_link_only(
    client: httpx.AsyncClient, service: Service, smtp: SMTPSink
) -> None:
    await add_user(service.pool, "ana")
    await external_request(
        client,
        title="Write the release note",
        response_schema={"type": "object", "properties": {"note": {"type": "string"}}},
    )
    [mail] = await smtp.wait_for(1)
    assert buttons(mail) == {} and "/answer/" not in mail.text


def minute(at: str) -> str:
    """A time as notifications show it."""
    return datetime.fromisoformat(at).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


async def test_a_claim_is_in_the_emails_and_on_the_page_before_anyone_confirms(
    client: httpx.AsyncClient,
    client_for: Callable[..., httpx.AsyncClient],
    service: Service,
    smtp: SMTPSink,
) -> None:
    ana = await auth.signed_in(client, client_for, "ana", email="ana@example.com")
    bob = await add_user(service.pool, "bob")
    cy = await add_user(service.pool, "cy", groups=("leads",))
    escalate = {"action": "escalate", "to": {"groups": ["leads"]}, "extend_seconds": 3600}
    request = await ask(
        client,
        assignees=["ana", "bob"],
        timeout_seconds=3600,
        reminders=[0.5],
        on_timeout=escalate,
    )
    rid = request["id"]
    first = {m.rcpt_tos[0]: m for m in await smtp.wait_for(2)}
    assert "Claimed by" not in first[bob].text  # nobody had claimed it yet
    bob_links, ana_links = buttons(first[bob]), buttons(first["ana@example.com"])

    r = await ana.post(f"/api/v1/requests/{rid}/claim")
    assert r.status_code == 200, r.text
    line = f"Claimed by ana until {minute(r.json()['claim_expires_at'])}"

    # The reminder, sent while ana's claim binds, says so.
    await travel(service, rid, 2000)
    reminded = {m.rcpt_tos[0]: m for m in (await smtp.wait_for(4))[2:]}
    assert set(reminded) == {bob, "ana@example.com"}
    assert all(m.message["Subject"] == "Reminder: approve?" for m in reminded.values())
    assert line in reminded[bob].text and line in reminded[bob].html

    # Bob's link says, before he confirms, that the claim would refuse him; confirming anyway
    # is refused by the answer path, and leaves the link good for later.
    browser = client_for()
    look = await browser.get(bob_links["Approve"])
    assert look.status_code == 200 and "data-claim-blocks" in look.text
    assert "Claimed by <strong>ana</strong> until" in look.text
    assert "confirming now would be refused" in look.text
    refused = await browser.post(bob_links["Approve"])
    assert refused.status_code == 409 and 'data-outcome="claimed"' in refused.text
    assert "ana claimed this request" in refused.text
    assert (await client.get(f"/api/v1/requests/{rid}")).json()["state"] == "pending"
    assert await audit_of(service, rid) == []
    # Ana's own link says she holds it (and would answer).
    mine = await browser.get(ana_links["Reject"])
    assert mine.status_code == 200 and "You claimed this request until" in mine.text
    assert "data-claim-blocks" not in mine.text

    # The escalation, sent while the claim binds, says so too.
    await travel(service, rid, 1600)
    [escalated] = (await smtp.wait_for(5))[4:]
    assert escalated.rcpt_tos == [cy] and line in escalated.text

    # Released, the claim is gone from the page, and bob's link answers (were he still
    # assigned: the escalation gave the request to the leads, so the answer path says so).
    assert (await ana.post(f"/api/v1/requests/{rid}/unclaim")).status_code == 200
    look = await browser.get(bob_links["Approve"])
    assert look.status_code == 200 and "data-claim" not in look.text
    refused = await browser.post(bob_links["Approve"])
    assert refused.status_code == 403 and "assigned to others" in refused.text


async def test_a_link_on_a_quorum_request_votes_and_says_so(
    client: httpx.AsyncClient,
    client_for: Callable[..., httpx.AsyncClient],
    service: Service,
    smtp: SMTPSink,
) -> None:
    ana = await add_user(service.pool, "ana")
    bob = await add_user(service.pool, "bob")
    thread_id = await start(client, "quorum", {"terms": {"assignees": ["ana", "bob"]}})
    await settle(client, thread_id)
    [request] = await pending(client, thread_id)
    mails = {m.rcpt_tos[0]: m for m in await smtp.wait_for(2)}
    browser = client_for()
    voted = await browser.post(buttons(mails[ana])["Approve"])
    assert voted.status_code == 200 and 'data-outcome="voted"' in voted.text
    assert "waits for more votes" in voted.text
    assert (await client.get(f"/api/v1/requests/{request['id']}")).json()["state"] == "pending"
    done = await browser.post(buttons(mails[bob])["Approve"])
    assert done.status_code == 200 and 'data-outcome="done"' in done.text
    votes = (await client.get(f"/api/v1/requests/{request['id']}/votes")).json()
    assert [(v["by"], v["via"]) for v in votes] == [("ana", "email"), ("bob", "email")]
