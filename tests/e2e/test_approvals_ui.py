"""The request page's approvals in a real browser (Debian's Chromium via Playwright) against a
server process: a quorum's votes, a claim, a comment with a mention in the thread's timeline
between the requests it came between, and the four-eyes notice (docs/approvals.md)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from hitl.launcher import ServiceProcess
from tests.support import auth
from tests.support.api import pending, settle, start
from tests.support.browser import chromium, keep_artifact

WAIT_MS = 20_000


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


async def asked(client: httpx.AsyncClient, graph: str, **terms: Any) -> dict[str, Any]:
    thread_id = await start(client, graph, {"terms": terms})
    assert (await settle(client, thread_id))["status"] == "interrupted"
    [request] = await pending(client, thread_id)
    return request


async def person(browser: Browser, url: str, name: str, password: str) -> BrowserContext:
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    await auth.sign_in_browser(context, url, name, password)
    return context


async def vote(page: Page, decision: str) -> None:
    await page.locator(f'input[name="decision"][value="{decision}"]').check()
    await page.get_by_role("button", name="Send answer").click()


async def test_votes_a_claim_and_a_mention_on_the_request_page(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
    browser: Browser,
    tmp_path: Path,
) -> None:
    server = make_server(HITL_FORBID_SELF_APPROVAL="external").start()
    server.wait_ready()
    client = http(server.url)
    ana_password = await auth.make_user(client, "ana", display_name="Ana")
    bo_password = await auth.make_user(client, "bo", display_name="Bo")
    request = await asked(client, "quorum")  # two approving votes decide
    url = f"{server.url}/requests/{request['id']}"

    ana = await (await person(browser, server.url, "ana", ana_password)).new_page()
    await ana.goto(url)
    await expect(ana.locator("#quorum-terms")).to_contain_text("Needs 2 approving votes")
    await expect(ana.locator("#quorum-terms")).to_contain_text("0 of 2 so far")

    # Ana claims it: the page says she is on it, and Bo's says so too
    await ana.get_by_role("button", name="Claim").click()
    await expect(ana.locator("#claim-status")).to_contain_text("You claimed this request")
    bo = await (await person(browser, server.url, "bo", bo_password)).new_page()
    await bo.goto(url)
    await expect(bo.locator("#claim-status")).to_contain_text("ana is on it")
    await expect(bo.locator("#claimed-by-other")).to_be_visible()

    # a comment mentioning Bo, shown in the timeline with the mention marked
    await ana.get_by_label("Add to the discussion").fill("@bo can you check the rollback plan?")
    await ana.get_by_role("button", name="Comment", exact=True).click()
    comment = ana.locator("#timeline li.comment").first
    await expect(comment).to_contain_text("can you check the rollback plan?")
    await expect(comment.locator("strong.mention")).to_have_text("@bo")

    # Ana votes and releases her claim; one vote of two
    await vote(ana, "approve")
    await expect(ana.locator("#quorum-terms")).to_contain_text("1 of 2 so far")
    await expect(ana.locator("#my-vote")).to_contain_text("You voted approve")
    await ana.get_by_role("button", name="Release").click()
    await expect(ana.locator("#claim-status")).to_contain_text("Nobody has claimed")

    # Bo's vote decides it
    await bo.goto(url)
    await expect(bo.locator("ol.timeline")).to_contain_text("@bo can you check")
    await vote(bo, "approve")
    await expect(bo.locator("#answer")).to_contain_text("answered at", timeout=WAIT_MS)
    votes = bo.locator("ol.votes li")
    await expect(votes).to_have_count(2)
    await expect(votes.nth(0)).to_contain_text("ana")
    await expect(votes.nth(1)).to_contain_text("bo")
    shot = tmp_path / "approvals-request.png"
    await bo.screenshot(path=str(shot), full_page=True)
    keep_artifact(shot)

    # the thread's next turn asks again: on its page the timeline reads, oldest first, the
    # first request, Ana's comment on it (its mention marked, saying which request it is on),
    # and the new request
    assert (await settle(client, request["thread_id"]))["status"] == "completed"
    r = await client.post(
        f"/lg/threads/{request['thread_id']}/runs/wait",
        json={"assistant_id": "quorum", "input": {}},
    )
    assert r.status_code == 200, r.text
    [again] = await pending(client, request["thread_id"])
    await bo.goto(f"{server.url}/requests/{again['id']}")
    timeline = bo.get_by_role("region", name="Thread timeline")
    entries = timeline.locator("ol.timeline > li")
    await expect(entries).to_have_count(3)
    await expect(entries.nth(0)).to_have_class(re.compile(r"\basked\b"))
    await expect(entries.nth(0).get_by_role("link")).to_have_attribute(
        "href", f"/requests/{request['id']}"
    )
    await expect(entries.nth(1)).to_have_class(re.compile(r"\bcomment\b"))
    await expect(entries.nth(1)).to_contain_text("ana commented")
    await expect(entries.nth(1).locator("strong.mention")).to_have_text("@bo")
    await expect(entries.nth(1).get_by_role("link")).to_have_attribute(
        "href", f"/requests/{request['id']}"
    )
    await expect(entries.nth(2)).to_have_attribute("aria-current", "true")
    shot = tmp_path / "approvals-timeline.png"
    await timeline.screenshot(path=str(shot))
    keep_artifact(shot)

    # delegation: Ana is away; Bo sees that he answers her request for her
    now = datetime.now(UTC)
    window = {"from": now.isoformat(), "until": (now + timedelta(days=7)).isoformat()}
    r = await client.put("/api/v1/users/ana/delegation", json={"delegate": "bo", **window})
    assert r.status_code == 200, r.text
    for_ana = await asked(client, "terms", assignees=["ana"])
    await bo.goto(f"{server.url}/requests/{for_ana['id']}")
    await expect(bo.locator("#delegation-notice")).to_contain_text("You answer this for ana")
    await vote(bo, "approve")
    await expect(bo.locator("#responded-for")).to_have_text("ana", timeout=WAIT_MS)

    # four-eyes: the person a request is asked for is told another must answer it
    mine = await asked(client, "terms", forbid_self_approval=True, on_behalf_of="ana")
    await ana.goto(f"{server.url}/requests/{mine['id']}")
    await expect(ana.locator("#own-request")).to_contain_text("another person must answer it")
    await expect(ana.get_by_role("button", name="Send answer")).to_have_count(0)
