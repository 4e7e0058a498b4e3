"""An email's answer button in a real browser (Chromium) against a server process: the link
opens a confirmation page that answers nothing, the Confirm button answers once, and the link
opened again says it was used."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable

import httpx
import psycopg
import pytest
from playwright.async_api import Browser, expect

from hitl.launcher import ServiceProcess
from tests.support.api import pending, settle, start
from tests.support.browser import chromium
from tests.support.smtp import SMTPSink

WAIT_MS = 20_000
ADD_USER = (
    "INSERT INTO hitl_users (username, email, role) VALUES ('ana', 'ana@example.com', 'responder')"
)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


async def test_an_email_button_answers_in_the_browser_once(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
    browser: Browser,
    database_url: str,
) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(ADD_USER)
    async with SMTPSink() as smtp:
        server = make_server(
            HITL_SMTP_HOST="127.0.0.1", HITL_SMTP_PORT=str(smtp.port), HITL_SMTP_TLS="none"
        )
        server.start({"HITL_PUBLIC_URL": server.url})
        await asyncio.to_thread(server.wait_ready)
        client = http(server.url)
        thread_id = await start(client, "timed", {"terms": {"assignees": ["ana"]}})
        assert (await settle(client, thread_id))["status"] == "interrupted"
        [request] = await pending(client, thread_id)
        [mail] = await smtp.wait_for(1)
        [approve] = re.findall(r'href="([^"]+/answer/[^"]+)"[^>]*>Approve</a>', mail.html)

    context = await browser.new_context()  # nobody signed in: the link is the proof
    page = await context.new_page()
    await page.goto(approve)
    await expect(page.get_by_role("heading", level=1)).to_have_text("approve?")
    confirm = page.get_by_role("button", name="Confirm: Approve")
    await expect(confirm).to_be_visible()
    assert (await client.get(f"/api/v1/requests/{request['id']}")).json()["state"] == "pending"

    await confirm.click()
    await expect(page.locator('[data-outcome="done"]')).to_contain_text(
        "Answered “Approve” as ana", timeout=WAIT_MS
    )
    answered = (await client.get(f"/api/v1/requests/{request['id']}")).json()
    assert (answered["response"], answered["responded_by"]) == ({"decision": "approve"}, "ana")

    await page.goto(approve)  # the same link again
    await expect(page.locator('[data-outcome="spent"]')).to_contain_text("used already")
    await expect(page.get_by_role("button", name="Confirm: Approve")).to_have_count(0)
    await context.close()
