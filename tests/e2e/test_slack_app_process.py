"""Slack app mode in a server process: it posts to the Slack stand-in, takes a signed button
click, answers, and updates the message, all across real process boundaries."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import psycopg

from hitl.launcher import ServiceProcess
from tests.support.api import pending, settle, start
from tests.support.slack_api import SlackAPI, block_action, signed

SECRET = "e2e-signing-secret"
TOKEN = "xoxb-e2e"
ADD_USER = (
    "INSERT INTO hitl_users (username, email, role) VALUES ('ana', 'ana@example.com', 'responder')"
)


async def test_a_slack_click_answers_and_the_message_is_updated(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
    database_url: str,
) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(ADD_USER)
    async with SlackAPI(token=TOKEN, people={"ana@example.com": "U0ANA"}) as slack:
        server = make_server(
            HITL_SLACK_BOT_TOKEN=TOKEN,
            HITL_SLACK_SIGNING_SECRET=SECRET,
            HITL_SLACK_ROUTES="graph:timed=C0TIMED",
            HITL_SLACK_API_URL=slack.base_url,
        )
        server.start({"HITL_PUBLIC_URL": server.url})
        await asyncio.to_thread(server.wait_ready)
        client = http(server.url)
        thread_id = await start(client, "timed", {"terms": {"assignees": ["ana"]}})
        assert (await settle(client, thread_id))["status"] == "interrupted"
        [request] = await pending(client, thread_id)
        await slack.until(lambda: len(slack.messages) == 2)
        [card] = [m for m in slack.messages.values() if m.channel == "C0TIMED"]
        approve = next(b for b in card.buttons() if b["text"]["text"] == "Approve")

        body, headers = signed(SECRET, block_action("U0ANA", card, approve))
        async with httpx.AsyncClient(base_url=server.url) as from_slack:
            r = await from_slack.post("/slack/interactivity", content=body, headers=headers)
            assert r.status_code == 200
            replay = await from_slack.post("/slack/interactivity", content=body, headers=headers)
            assert replay.status_code == 401
        answered = (await client.get(f"/api/v1/requests/{request['id']}")).json()
        assert (answered["response"], answered["responded_by"]) == ({"decision": "approve"}, "ana")
        await slack.until(lambda: all(m.updates for m in slack.messages.values()))
        assert all(m.action_ids() == ["hitl:open"] for m in slack.messages.values())
