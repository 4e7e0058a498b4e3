"""Notifications by email (a local aiosmtpd server) and Slack (a local HTTP receiver): who gets
them, what they say, links that open the request, retries, and senders that never double up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import pytest
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr

from hitl import logcontext
from hitl.config import Settings
from hitl.launcher import free_port
from hitl.notifications import queue
from hitl.service import Service
from tests.support import auth
from tests.support.api import pending, settle, start
from tests.support.receiver import Receiver
from tests.support.smtp import Mail, SMTPSink
from tests.support.users import add_user

BASE = "http://hitl"  # the test client's base URL, so the links can be followed as they are
SLACK_PATH = "/services/T0001/B0001/sl4ck-t0ken-s3cret"
T = TypeVar("T")


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def smtp_options() -> dict[str, Any]:
    """`SMTPSink` options; a test changes them with ``@pytest.mark.parametrize``."""
    return {}


@pytest.fixture
async def smtp(smtp_port: int, smtp_options: dict[str, Any]) -> AsyncIterator[SMTPSink]:
    async with SMTPSink(smtp_port, **smtp_options) as sink:
        yield sink


@pytest.fixture
def slack_reply() -> int:
    return 200


@pytest.fixture
async def slack(slack_reply: int) -> AsyncIterator[Receiver]:
    async with Receiver(default=slack_reply) as receiver:
        yield receiver


@pytest.fixture
def overrides() -> dict[str, Any]:
    """More settings; a test changes them with ``@pytest.mark.parametrize``."""
    return {}


@pytest.fixture
def settings(
    settings: Settings, smtp_port: int, slack: Receiver, overrides: dict[str, Any]
) -> Settings:
    changes: dict[str, Any] = {
        "public_url": BASE,
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "smtp_tls": "none",
        "smtp_from": "hitl@example.com",
        "slack_webhook_url": slack.url(SLACK_PATH),
        "webhook_allow_networks": "127.0.0.0/8",
        "webhook_retry_schedule": "0,0.2,0.2,0.2",
        "webhook_lease_seconds": 3.0,
        **overrides,
    }
    for secret in ("smtp_password", "slack_webhook_url"):
        if isinstance(changes.get(secret), str):
            changes[secret] = SecretStr(changes[secret])
    return settings.model_copy(update=changes)


async def until(check: Callable[[], Awaitable[T | None]], timeout: float = 20) -> T:
    """Poll ``check`` until it returns something truthy (the outcome is recorded after the send)."""
    async with asyncio.timeout(timeout):
        while True:
            found = await check()
            if found:
                return found
            await asyncio.sleep(0.05)


async def notes(pool: AsyncConnectionPool[Any], request_id: str) -> list[queue.Notification]:
    async with pool.connection() as conn:
        return await queue.of_request(conn, request_id)


async def settled(
    pool: AsyncConnectionPool[Any], request_id: str, count: int
) -> list[queue.Notification]:
    """The request's notifications once ``count`` exist and none is pending or being sent."""

    async def check() -> list[queue.Notification] | None:
        found = await notes(pool, request_id)
        done = len(found) == count and all(n.status in ("sent", "failed") for n in found)
        return found if done else None

    return await until(check)


async def external_request(client: httpx.AsyncClient, hook: str, **extra: Any) -> str:
    endpoints = (await client.get("/api/v1/webhooks")).json()["items"]
    if not any(e["url"] == hook for e in endpoints):
        r = await client.post("/api/v1/webhooks", json={"url": hook, "events": []})
        assert r.status_code == 201, r.text
    body = {"workflow_id": "wf-1", "callback_webhook": hook, "context": {}, **extra}
    r = await client.post("/api/v1/requests", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def emit(conn: AsyncConnection[Any], event_type: str, data: dict[str, Any]) -> None:
    """Write an event to the outbox as the service's statements do."""
    await conn.execute(
        "INSERT INTO hitl_events (type, subject, data) VALUES (%s, %s, %s)",
        (event_type, data["request_id"], Jsonb(data)),
    )


def by_recipient(mails: list[Mail]) -> dict[str, Mail]:
    found = {}
    for mail in mails:
        [to] = mail.rcpt_tos
        found[to] = mail
    assert len(found) == len(mails), "one message per recipient"
    return found


async def test_a_graph_run_notifies_its_assignees_by_email_and_slack_with_links_that_work(
    client: httpx.AsyncClient, service: Service, smtp: SMTPSink, slack: Receiver
) -> None:
    pool = service.pool
    ana = await add_user(pool, "ana")
    await add_user(pool, "bob", role="admin")  # may answer anything, but it is not for him
    gus = await add_user(pool, "gus", groups=("ops",))
    await add_user(pool, "carl", role="viewer", groups=("ops",))  # may look, not answer
    await add_user(pool, "dora", email=None, groups=("ops",))  # no address
    await add_user(pool, "eve", disabled=True, groups=("ops",))
    await add_user(pool, "fay", preferences={"email": False}, groups=("ops",))  # email off

    # The interrupt's value assigns it (hitl.assignment).
    terms = {"assignees": ["ana"], "assigned_groups": ["ops"]}
    thread_id = await start(client, "timed", {"terms": terms})
    assert (await settle(client, thread_id))["status"] == "interrupted"
    [request] = await pending(client, thread_id)
    assert (request["assignees"], request["assigned_groups"]) == (["ana"], ["ops"])
    link = f"{BASE}/requests/{request['id']}"

    mails = by_recipient(await smtp.wait_for(2))
    assert set(mails) == {ana, gus}
    [post] = await slack.wait_for(1)
    found = await settled(pool, request["id"], 3)
    assert {(n.channel, n.recipient, n.username, n.status, n.attempts) for n in found} == {
        ("email", ana, "ana", "sent", 1),
        ("email", gus, "gus", "sent", 1),
        ("slack", "slack", None, "sent", 1),
    }
    assert all(n.event_type == "request.created" and n.last_error is None for n in found)

    mail = mails[ana]
    assert mail.mail_from == "hitl@example.com"
    assert mail.message["Subject"] == "approve?"  # the title the inbox shows for this request
    assert mail.message["To"] == ana
    ids = {n.recipient: n.id for n in found}
    assert mail.message["Message-ID"] == f"<{ids[ana]}@hitl.notifications>"
    assert "A new request is waiting for an answer." in mail.text
    assert "Graph: timed" in mail.text
    assert f"Open it: {link}" in mail.text
    assert f'href="{link}"' in mail.html

    assert post.path == SLACK_PATH
    assert post.headers["content-type"] == "application/json"
    message = post.json
    assert link in message["text"] and "approve?" in message["text"]
    assert message["blocks"][0]["text"]["text"].startswith(f"*<{link}|approve?>*")
    assert message["blocks"][-1]["elements"][0]["url"] == link

    # The links open the request's page.
    page = await client.get(link)
    assert page.status_code == 200
    assert "approve?" in page.text and request["id"] in page.text

    metrics = (await client.get("/metrics")).text
    assert 'hitl_notifications_settled_total{channel="email",status="sent"} 2.0' in metrics
    assert 'hitl_notifications_settled_total{channel="slack",status="sent"} 1.0' in metrics
    assert 'hitl_notifications{status="sent"} 3.0' in metrics


async def test_unassigned_requests_go_to_responders_and_admins_who_want_email(
    client: httpx.AsyncClient,
    client_for: Callable[..., httpx.AsyncClient],
    service: Service,
    smtp: SMTPSink,
    slack: Receiver,
) -> None:
    pool = service.pool
    password = await auth.make_user(client, "ana", email="ana@example.com")
    bob = await add_user(pool, "bob", role="admin")
    cy = await add_user(pool, "cy")
    await add_user(pool, "carl", role="viewer")
    ana = client_for()  # ana, signed in, sets her own preference
    csrf = await auth.sign_in(ana, "ana", password)

    async def email_me(on: bool) -> None:
        r = await ana.patch(
            "/api/v1/me/preferences", json={"email": on}, headers={"X-CSRF-Token": csrf}
        )
        assert r.status_code == 200 and r.json()["email"] is on, r.text

    await email_me(False)
    first = await external_request(client, slack.url("/agent"), title="Deploy to production?")
    found = await settled(pool, first, 3)
    assert {n.recipient for n in found if n.channel == "email"} == {bob, cy}

    await email_me(True)
    second = await external_request(client, slack.url("/agent"), title="Roll back?")
    found = await settled(pool, second, 4)
    assert {n.recipient for n in found if n.channel == "email"} == {"ana@example.com", bob, cy}
    mails = await smtp.wait_for(5)
    assert len(mails) == 5
    assert [m.rcpt_tos for m in mails if m.message["Subject"] == "Roll back?"].count([cy]) == 1


def minute(at: str) -> str:
    """A deadline as messages show it."""
    return datetime.fromisoformat(at).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


async def test_reminders_and_escalations_of_a_deadline_go_to_the_people_they_concern(
    client: httpx.AsyncClient, service: Service, smtp: SMTPSink, slack: Receiver
) -> None:
    pool = service.pool
    await add_user(pool, "ana")  # a responder the request is not for
    bob = await add_user(pool, "bob")
    gus = await add_user(pool, "gus", groups=("ops",))
    await add_user(pool, "hal", groups=("ops",), preferences={"email": False})
    cy = await add_user(pool, "cy", groups=("leads",))
    # Webhook endpoints can subscribe to these events too.
    r = await client.post(
        "/api/v1/webhooks",
        json={"url": slack.url("/events"), "events": ["request.reminded", "request.escalated"]},
    )
    assert r.status_code == 201, r.text

    # Reminded halfway to a two-second deadline, then escalated to the leads for an hour.
    request_id = await external_request(
        client,
        slack.url("/agent"),
        title="Rotate the keys?",
        routing={"assignees": ["bob"], "groups": ["ops"]},
        timeout_seconds=2,
        reminders=[0.5],
        on_timeout={"action": "escalate", "to": {"groups": ["leads"]}, "extend_seconds": 3600},
    )
    found = await settled(pool, request_id, 3 + 3 + 2)
    recipients: dict[str, set[str]] = {}
    for n in found:
        recipients.setdefault(n.event_type, set()).add(n.recipient)
    assert recipients == {
        "request.created": {bob, gus, "slack"},
        "request.reminded": {bob, gus, "slack"},
        "request.escalated": {cy, "slack"},
    }

    events = sorted(await slack.wait_for(2 + 3), key=lambda r: r.at)
    reminded, escalated = (e.json for e in events if e.path == "/events")
    assert (reminded["type"], escalated["type"]) == ("request.reminded", "request.escalated")
    request = (await client.get(f"/api/v1/requests/{request_id}")).json()
    assert request["assigned_groups"] == ["leads"]
    new_deadline = datetime.fromisoformat(escalated["data"]["deadline_at"])
    assert datetime.fromisoformat(request["deadline_at"]) == new_deadline

    mails = {(m.message["Subject"], m.rcpt_tos[0]): m for m in await smtp.wait_for(5)}
    assert set(mails) == {
        ("Rotate the keys?", bob),
        ("Rotate the keys?", gus),
        ("Reminder: Rotate the keys?", bob),
        ("Reminder: Rotate the keys?", gus),
        ("Escalated: Rotate the keys?", cy),
    }
    reminder = mails["Reminder: Rotate the keys?", gus].text
    assert "Reminder: a request is still waiting for an answer." in reminder
    assert f"Deadline: {minute(reminded['data']['deadline_at'])}" in reminder
    escalation = mails["Escalated: Rotate the keys?", cy].text
    assert "A request was escalated to you" in escalation
    assert f"Deadline: {minute(request['deadline_at'])}" in escalation  # the new one

    posts = [p.json["text"] for p in events if p.path == SLACK_PATH]
    assert sorted(t.split(":")[0] for t in posts) == ["Escalated", "Reminder", "Rotate the keys?"]


async def test_other_events_and_events_about_no_request_notify_nobody(
    client: httpx.AsyncClient, service: Service, slack: Receiver
) -> None:
    pool = service.pool
    await add_user(pool, "ana")
    request_id = await external_request(client, slack.url("/agent"))
    await settled(pool, request_id, 2)
    async with pool.connection() as conn:
        for event_type in ("request.responded", "request.assigned", "thread.interrupted"):
            await emit(conn, event_type, {"request_id": request_id})
        await emit(
            conn, "request.escalated", {"request_id": "00000000-0000-0000-0000-000000000000"}
        )
        cur = await conn.execute("SELECT count(*) AS n FROM hitl_notifications")
        assert await cur.fetchone() == {"n": 2}


PASSWORD = "smtp-pa55word-s3cret"


@pytest.mark.parametrize(
    ("smtp_options", "overrides"),
    [({"login": ("mailer", PASSWORD)}, {"smtp_username": "mailer", "smtp_password": PASSWORD})],
)
async def test_nothing_secret_reaches_a_message_or_the_logs(
    client: httpx.AsyncClient,
    service: Service,
    smtp: SMTPSink,
    slack: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    pool = service.pool
    await add_user(pool, "ana")
    hook = await client.post("/api/v1/webhooks", json={"url": slack.url("/h"), "events": ["*"]})
    webhook_secret = hook.json()["secret"]

    # A code review of a diff with a password in it: the value holds the whole diff.
    thread_id = await start(
        client,
        "code_review",
        {
            "diff": "diff --git a/auth/login.py b/auth/login.py\n--- a/auth/login.py\n"
            '+++ b/auth/login.py\n@@ -1,1 +1,2 @@\n import os\n+PASSWORD = "hunter2"\n'
        },
    )
    assert (await settle(client, thread_id))["status"] == "interrupted"
    [review] = await pending(client, thread_id)
    # An agent's request whose title tries Slack markup and whose context holds a secret.
    agent = await external_request(
        client,
        slack.url("/h"),
        title="Ship <!channel> <https://evil.example|now>?",
        context={"token": "ctx-t0ken-s3cret"},
        description="internal notes: ctx-t0ken-s3cret",
    )
    await settled(pool, review["id"], 2)
    await settled(pool, agent, 2)
    mails = await smtp.wait_for(2)

    assert all(m.login == "mailer" for m in mails)  # the credentials were used
    posts = [r for r in slack.received if r.path == SLACK_PATH]
    assert len(posts) == 2
    bodies = [m.raw.decode() for m in mails] + [p.body.decode() for p in posts]
    for body in bodies:
        for secret in (
            "hunter2",
            "PASSWORD",
            "ctx-t0ken-s3cret",
            PASSWORD,
            "sl4ck-t0ken-s3cret",
            webhook_secret,
            "whsec_",
        ):
            assert secret not in body
    review_mail = next(m for m in mails if review["id"] in m.text)
    assert review_mail.message["Subject"] == "Change to auth/login.py"
    agent_post = next(p.json for p in posts if agent in p.json["text"])
    assert "<!channel>" not in agent_post["text"] and "&lt;!channel&gt;" in agent_post["text"]
    assert "<https://evil.example|now>" not in str(agent_post["blocks"])

    # What the service logged (the test's SMTP server, aiosmtpd's "mail.log", is not ours).
    logged = "\n".join(
        logcontext.JSONFormatter().format(r) for r in caplog.records if r.name != "mail.log"
    )
    assert "HTTP Request: POST" in logged  # httpx logged the Slack posts, masked
    for secret in (PASSWORD, "sl4ck-t0ken-s3cret", "hunter2"):
        assert secret not in logged


@pytest.mark.parametrize("overrides", [{"webhook_retry_schedule": "0,0.2,0.2,0.5" + ",1" * 8}])
async def test_an_smtp_server_down_then_up_gets_the_message_once(
    client: httpx.AsyncClient, service: Service, smtp_port: int, slack: Receiver
) -> None:
    ana = await add_user(service.pool, "ana")
    request_id = await external_request(client, slack.url("/agent"))

    async def refused_twice() -> queue.Notification | None:
        email = await _of_channel(service.pool, request_id, "email")
        return email if email and email.attempts >= 2 and email.status == "pending" else None

    refused = await until(refused_twice)
    assert refused.last_error and "connect" in refused.last_error.lower()

    async with SMTPSink(smtp_port) as smtp:  # the server comes up
        [mail] = await smtp.wait_for(1)

        async def sent() -> queue.Notification | None:
            email = await _of_channel(service.pool, request_id, "email")
            return email if email and email.status == "sent" else None

        found = await until(sent)
        assert mail.rcpt_tos == [ana]
        assert found.attempts >= 3 and found.last_error is None
        assert len(smtp.received) == 1  # sent: no further attempt


async def _of_channel(
    pool: AsyncConnectionPool[Any], request_id: str, channel: str
) -> queue.Notification | None:
    mine = [n for n in await notes(pool, request_id) if n.channel == channel]
    return mine[0] if mine else None


@pytest.mark.parametrize(
    ("slack_reply", "smtp_options", "overrides"),
    [(500, {"refuse": {"gone@example.com"}}, {"webhook_retry_schedule": "0,0.1,0.1"})],
)
async def test_receivers_that_keep_failing_are_given_up_on_with_the_error_kept(
    client: httpx.AsyncClient, service: Service, smtp: SMTPSink, slack: Receiver
) -> None:
    await add_user(service.pool, "gone", email="gone@example.com")
    bob = await add_user(service.pool, "bob")
    request_id = await external_request(client, slack.url("/agent"))
    found = {n.recipient: n for n in await settled(service.pool, request_id, 3)}

    [mail] = smtp.received
    assert mail.rcpt_tos == [bob] and found[bob].status == "sent"
    # Refused for good by the server: not retried.
    gone = found["gone@example.com"]
    assert (gone.status, gone.attempts) == ("failed", 1)
    assert gone.last_error and "550" in gone.last_error
    # Slack answered 500 to each attempt of the schedule.
    assert (found["slack"].status, found["slack"].attempts) == ("failed", 3)
    assert found["slack"].last_error == 'HTTP 500: {"status": 500}'
    assert len([r for r in slack.received if r.path == SLACK_PATH]) == 3
    metrics = (await client.get("/metrics")).text
    assert 'hitl_notifications_settled_total{channel="email",status="failed"} 1.0' in metrics
    assert 'hitl_notifications_settled_total{channel="slack",status="failed"} 1.0' in metrics


async def test_a_notification_whose_sender_died_mid_send_is_sent_by_another(
    client: httpx.AsyncClient, service: Service, smtp: SMTPSink, slack: Receiver
) -> None:
    pool = service.pool
    ana = await add_user(pool, "ana")
    # The request, its event and its notifications commit together with a claim by a sender
    # that then dies: nobody renews the lease, so the live sender takes them over.
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            """
            INSERT INTO hitl_requests (kind, workflow_id, title)
            VALUES ('external', 'wf', 'Taken over?') RETURNING id::text
            """
        )
        row = await cur.fetchone()
        assert row is not None
        request_id = row["id"]
        await emit(conn, "request.created", {"request_id": request_id})
        await conn.execute(
            """
            UPDATE hitl_notifications
            SET status = 'sending', lease_owner = 'dead-sender', attempts = 1,
                lease_expires_at = now() + interval '1 second'
            """
        )
    [mail] = await smtp.wait_for(1)
    [post] = await slack.wait_for(1)
    found = await settled(pool, request_id, 2)
    assert mail.rcpt_tos == [ana] and request_id in post.json["text"]
    assert {(n.channel, n.status, n.attempts) for n in found} == {
        ("email", "sent", 2),
        ("slack", "sent", 2),
    }
    assert len(smtp.received) == 1 and len(slack.received) == 1


async def test_two_senders_on_one_database_send_each_notification_once(
    client: httpx.AsyncClient,
    service: Service,
    settings: Settings,
    smtp: SMTPSink,
    slack: Receiver,
) -> None:
    for name in ("ana", "bob", "cid"):
        await add_user(service.pool, name)
    async with Service.open(settings) as other:
        assert service.sender and other.sender and other.sender.owner != service.sender.owner
        ids = await asyncio.gather(
            *(external_request(client, slack.url("/agent"), title=f"Q{i}") for i in range(15))
        )
        for request_id in ids:
            await settled(service.pool, request_id, 4)
    mails = await smtp.wait_for(45)
    assert len(smtp.received) == 45
    assert len({m.message["Message-ID"] for m in mails}) == 45
    posts = [r for r in slack.received if r.path == SLACK_PATH]
    assert len(posts) == 15
    assert sorted(p.json["text"].split(":")[0] for p in posts) == sorted(f"Q{i}" for i in range(15))
