"""Three people answer one request at the same moment through three doors (a Slack button, an
email button, the web API): exactly one answer wins, and the other two are told who won."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from pydantic import SecretStr

from hitl.config import Settings
from hitl.service import Service
from tests.support import auth
from tests.support.api import pending, settle, start
from tests.support.slack_api import SlackAPI, block_action, signed
from tests.support.smtp import SMTPSink

BASE = "http://hitl"
SECRET = "race-signing-secret"
TOKEN = "xoxb-race"
CHANNEL = "C0RACE"
LINK = re.compile(r'href="(http://hitl/answer/[^"]+)"[^>]*>Approve</a>')
ROUNDS = 3


@pytest.fixture
async def slack() -> AsyncIterator[SlackAPI]:
    people = {"ana@example.com": "U0ANA", "bob@example.com": "U0BOB", "cy@example.com": "U0CY"}
    async with SlackAPI(token=TOKEN, people=people) as api:
        yield api


@pytest.fixture
def settings(settings: Settings, slack: SlackAPI, smtp_port: int) -> Settings:
    return settings.model_copy(
        update={
            "public_url": BASE,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "smtp_tls": "none",
            "slack_bot_token": SecretStr(TOKEN),
            "slack_signing_secret": SecretStr(SECRET),
            "slack_channel": CHANNEL,
            "slack_dm_assignees": False,
            "slack_api_url": slack.base_url,
            "webhook_retry_schedule": "0,0.2",
        }
    )


async def waiting_for_locks(service: Service, count: int) -> None:
    """Until ``count`` sessions of the test database wait for a lock."""
    async with asyncio.timeout(20), service.pool.connection() as conn:
        while True:
            cur = await conn.execute(
                "SELECT count(*) AS n FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            row = await cur.fetchone()
            if row is not None and row["n"] >= count:
                return
            await asyncio.sleep(0.02)


async def test_slack_email_and_web_at_once_exactly_one_wins(
    client: httpx.AsyncClient,
    client_for: Callable[..., httpx.AsyncClient],
    service: Service,
    smtp: SMTPSink,
    slack: SlackAPI,
) -> None:
    web = client_for()
    for name in ("ana", "bob"):
        await auth.make_user(client, name, email=f"{name}@example.com")
    password = await auth.make_user(client, "cy", email="cy@example.com")
    web.headers["X-CSRF-Token"] = await auth.sign_in(web, "cy", password)
    slack_http, mail_http = client_for(), client_for()

    for round_ in range(ROUNDS):
        terms = {"assignees": ["ana", "bob", "cy"]}
        thread_id = await start(client, "timed", {"terms": terms})
        assert (await settle(client, thread_id))["status"] == "interrupted"
        [request] = await pending(client, thread_id)
        await slack.wait_for("chat.postMessage", round_ + 1)
        card = next(m for m in slack.messages.values() if request["id"] in str(m.blocks))
        mails = await smtp.wait_for(3 * (round_ + 1))
        [bob_mail] = [m for m in mails[-3:] if m.rcpt_tos == ["bob@example.com"]]
        [bob_link] = LINK.findall(bob_mail.html)
        approve = next(b for b in card.buttons() if b["text"]["text"] == "Approve")
        body, headers = signed(SECRET, block_action("U0ANA", card, approve))

        # The request's row is held while the three answers start, until each of them waits
        # for it at its conditional update: then they are let go together, and Postgres
        # decides the order.
        async with service.pool.connection() as holder, holder.transaction():
            await holder.execute(
                "SELECT 1 FROM hitl_requests WHERE id = %s FOR UPDATE", (request["id"],)
            )
            answers = [
                asyncio.create_task(call)
                for call in (
                    slack_http.post("/slack/interactivity", content=body, headers=headers),
                    mail_http.post(bob_link),
                    web.post(
                        f"/api/v1/requests/{request['id']}/respond",
                        json={"response": {"decision": "approve"}},
                    ),
                )
            ]
            await waiting_for_locks(service, 3)
        slack_r, mail_r, web_r = await asyncio.gather(*answers)
        assert slack_r.status_code == 200  # Slack hears 200 either way; a loss is told apart
        answered = (await client.get(f"/api/v1/requests/{request['id']}")).json()
        winner = answered["responded_by"]
        assert winner in ("ana", "bob", "cy")
        async with service.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT actor, data FROM hitl_audit"
                " WHERE action = 'request.respond' AND subject = %s",
                (request["id"],),
            )
            entries = await cur.fetchall()
        assert [e["actor"] for e in entries] == [winner]  # exactly one answer recorded
        door = {"ana": "slack", "bob": "email", "cy": None}[winner]
        assert entries[0]["data"].get("via") == door

        # The losers see who won.
        if winner != "bob":
            assert mail_r.status_code == 409 and f"{winner} answered first" in mail_r.text
        else:
            assert mail_r.status_code == 200
        if winner != "cy":
            assert web_r.status_code == 409
            assert web_r.json()["detail"]["state"] in ("responded", "resumed")
        else:
            assert web_r.status_code == 200
        if winner != "ana":
            told = [c for c in slack.of("chat.postEphemeral") if c.params["user"] == "U0ANA"]
            assert told and f"{winner} answered first" in told[-1].params["text"]
        # ...and so does the Slack card.
        await slack.until(
            lambda card=card: card.updates > 0 and "hitl:choice:0" not in card.action_ids()
        )
        assert f"by {winner} at" in card.blocks[0]["text"]["text"]
