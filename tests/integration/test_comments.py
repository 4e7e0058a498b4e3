"""Comments (hitl/comments.py): the discussion on a request, its audit, @mentions notifying by
email through the notification outbox (a local SMTP server), and "send back with a note".
Real Postgres, the service's app in-process."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from hitl.config import Settings
from hitl.notifications import queue
from hitl.service import Service
from tests.integration.test_answer_reassigned import signed_in
from tests.integration.test_four_eyes import APPROVE, asked
from tests.support.api import respond
from tests.support.smtp import SMTPSink, mailing


@pytest.fixture
def settings(settings: Settings, smtp_port: int) -> Settings:
    return mailing(settings, smtp_port, public_url="http://hitl.example")


async def comment(who: httpx.AsyncClient, request_id: str, body: str) -> httpx.Response:
    return await who.post(f"/api/v1/requests/{request_id}/comments", json={"body": body})


async def test_comments_are_kept_in_order_with_their_audit(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    ana = await signed_in(client, client_for, "ana")
    request = await asked(client, "terms")
    rid = request["id"]
    first = await comment(ana, rid, "  Looks fine, but who owns the rollback?  ")
    assert first.status_code == 201, first.text
    assert first.json()["author"] == "ana" and first.json()["body"].startswith("Looks fine")
    await respond(ana, rid, APPROVE)
    # the discussion goes on after the answer: it is part of the record
    after = await comment(client, rid, "Noted for the post-mortem.")
    assert after.status_code == 201

    listed = (await client.get(f"/api/v1/requests/{rid}/comments")).json()
    assert [(c["author"], c["body"]) for c in listed] == [
        ("ana", "Looks fine, but who owns the rollback?"),
        ("key:tests", "Noted for the post-mortem."),
    ]
    audit = (await client.get("/api/v1/audit", params={"subject": rid})).json()["items"]
    kept = [e["data"]["body"] for e in audit if e["action"] == "request.comment"]
    assert sorted(kept) == sorted(c["body"] for c in listed)

    for bad, field in [({"body": ""}, "body"), ({"body": "x" * 10_001}, "body"), ({}, "body")]:
        r = await client.post(f"/api/v1/requests/{rid}/comments", json=bad)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", field], r.text
    r = await comment(client, rid, "   ")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "body"]
    r = await comment(client, "00000000-0000-4000-8000-000000000000", "hello")
    assert r.status_code == 404
    assert len((await client.get(f"/api/v1/requests/{rid}/comments")).json()) == 2


async def test_a_mention_emails_the_people_it_names(
    client: httpx.AsyncClient,
    client_for: Callable[..., httpx.AsyncClient],
    service: Service,
    smtp: SMTPSink,
) -> None:
    for name in ("ana", "bo", "cy"):
        r = await client.post(
            "/api/v1/users",
            json={"username": name, "role": "responder", "email": f"{name}@example.com"},
        )
        assert r.status_code == 201, r.text
    request = await asked(client, "terms", assignees=["cy"])
    rid = request["id"]
    [created] = await smtp.wait_for(1)  # cy, the assignee, learns of the request
    assert created.rcpt_tos == ["cy@example.com"]

    r = await comment(
        client, rid, "@ana can you check the numbers? (cc @bo., not ana@example.com, @nobody)"
    )
    assert r.status_code == 201 and r.json()["mentions"] == ["ana", "bo"]
    mails = (await smtp.wait_for(3))[1:]
    assert sorted(to for m in mails for to in m.rcpt_tos) == ["ana@example.com", "bo@example.com"]
    for mail in mails:
        assert mail.message["Subject"].startswith("Mentioned: ")
        assert f"http://hitl.example/requests/{rid}" in mail.text
        assert "check the numbers" not in mail.text  # the link, not the comment

    # a comment that mentions nobody notifies nobody
    await comment(client, rid, "no names here")
    async with service.pool.connection() as conn:
        notes = await queue.of_request(conn, rid)
    assert sorted(n.event_type for n in notes) == [
        "request.created",
        "request.mentioned",
        "request.mentioned",
    ]


async def test_send_back_answers_with_the_reject_choice_and_keeps_the_note(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    ana = await signed_in(client, client_for, "ana")
    request = await asked(client, "terms")
    r = await ana.post(
        f"/api/v1/requests/{request['id']}/send-back", json={"note": "Split the migration."}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["request"]["response"] == {"decision": "reject", "comment": "Split the migration."}
    assert body["request"]["responded_by"] == "ana"
    assert body["comment"]["body"] == "Split the migration."

    again = await ana.post(f"/api/v1/requests/{request['id']}/send-back", json={"note": "x"})
    assert again.status_code == 409
    # the refused second send-back left no comment behind (one transaction)
    listed = (await client.get(f"/api/v1/requests/{request['id']}/comments")).json()
    assert [c["body"] for c in listed] == ["Split the migration."]


async def test_the_request_page_shows_the_discussion_and_sends_back(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    ana = await signed_in(client, client_for, "ana")
    await signed_in(client, client_for, "bo")
    request = await asked(client, "terms")
    csrf = ana.headers["X-CSRF-Token"]
    url = f"/requests/{request['id']}/comments"
    r = await ana.post(url, data={"_csrf": csrf, "body": "<b>hi</b> @bo", "action": "comment"})
    assert r.status_code == 303 and r.headers["location"].endswith("#discussion")
    page = (await ana.get(f"/requests/{request['id']}")).text
    assert '&lt;b&gt;hi&lt;/b&gt; <strong class="mention">@bo</strong>' in page
    assert "data-send-back" in page

    r = await ana.post(url, data={"_csrf": csrf, "body": " ", "action": "comment"})
    assert r.status_code == 422 and 'id="comment-problem"' in r.text

    r = await ana.post(url, data={"_csrf": csrf, "body": "Not yet.", "action": "send_back"})
    assert r.status_code == 303
    answered = (await client.get(f"/api/v1/requests/{request['id']}")).json()
    assert answered["response"] == {"decision": "reject", "comment": "Not yet."}
