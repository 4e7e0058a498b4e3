"""The web UI in a real browser (Debian's Chromium via Playwright) against a server process."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client
from playwright.async_api import Browser, Page, expect

from graphs.samples import HIGH_RISK_DIFF
from hitl.launcher import ServiceProcess
from tests.support import auth
from tests.support.api import GRAPH_MODULES, pending, settle, start
from tests.support.browser import chromium, keep_artifact

WAIT_MS = 20_000


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


async def new_request(client: httpx.AsyncClient, **input: str) -> dict[str, str]:
    thread_id = await start(client, "code_review", {"diff": HIGH_RISK_DIFF, **input})
    assert (await settle(client, thread_id))["status"] == "interrupted"
    [request] = await pending(client, thread_id)
    return request


async def live_inbox(page: Page, url: str) -> None:
    await page.goto(url + "/")
    await expect(page.locator("body")).to_have_attribute("data-live", "open", timeout=WAIT_MS)
    # A reload would clear this; the live updates must not need one.
    await page.evaluate("window.__not_reloaded = true")


async def test_review_in_the_browser_with_a_live_inbox(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
    browser: Browser,
    tmp_path: Path,
) -> None:
    server = make_server().start()
    server.wait_ready()
    client = http(server.url)
    first = await new_request(client, title="Drop the users table", author="mallory")

    password = await auth.make_user(client, "reviewer", display_name="E2E Reviewer")
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    missing: list[str] = []  # nothing a page asks for is missing (the icon, say)
    context.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    await auth.sign_in_browser(context, server.url, "reviewer", password)
    inbox = await context.new_page()
    await live_inbox(inbox, server.url)
    row = inbox.locator(f'tr[data-request-id="{first["id"]}"]')
    await expect(row).to_contain_text("Drop the users table")

    page = await context.new_page()
    await page.goto(server.url + "/")
    await page.get_by_role("link", name="Drop the users table").click()
    await expect(page).to_have_url(f"{server.url}/requests/{first['id']}")
    heading = page.get_by_role("heading", level=1)
    await expect(heading).to_have_text("Code review Drop the users table")  # which question
    added = page.locator(".d-add", has_text="+DROP TABLE users;")
    await expect(added).to_be_visible()
    colour = await added.evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour not in ("rgba(0, 0, 0, 0)", "transparent"), colour
    removed = page.locator(".d-del").first
    assert await removed.evaluate("e => getComputedStyle(e).backgroundColor") != colour
    await expect(page.locator(".risk")).to_contain_text("Risk high (score 100 of 100)")

    # No decision: the server's error appears at the field, the comment is kept.
    await page.get_by_label("Comment").fill("Needs a second look <b>now</b>")
    await page.get_by_role("button", name="Send answer").click()
    decision = page.get_by_role("group", name=re.compile("Decision"))
    await expect(decision.locator(".error")).to_have_text("This field is required.")
    await expect(page.get_by_label("Comment")).to_have_value("Needs a second look <b>now</b>")
    shot = tmp_path / "request-form-error.png"
    await page.screenshot(path=str(shot), full_page=True)
    keep_artifact(shot)

    await expect(page.locator("form.answer")).to_contain_text("Answering as E2E Reviewer")
    await page.get_by_label("Approve").check()
    await page.get_by_role("button", name="Send answer").click()
    await expect(page).to_have_url(f"{server.url}/requests/{first['id']}#answer")
    await expect(page.locator("#answer")).to_contain_text("reviewer answered at")
    await expect(page.locator("#answer")).to_contain_text("approve")
    shot = tmp_path / "request-page.png"
    await page.screenshot(path=str(shot), full_page=True)
    keep_artifact(shot)

    # The inbox left open drops the answered request and shows new ones, without a reload.
    await expect(row).to_have_count(0, timeout=WAIT_MS)
    second = await new_request(client, title="Second change")
    await expect(inbox.locator(f'tr[data-request-id="{second["id"]}"]')).to_contain_text(
        "Second change", timeout=WAIT_MS
    )
    assert await inbox.evaluate("window.__not_reloaded === true")
    shot = tmp_path / "inbox.png"
    await inbox.screenshot(path=str(shot), full_page=True)
    keep_artifact(shot)

    # The thread went on: tests passed, and it now waits for the deploy approval.
    thread = await settle(client, first["thread_id"])
    assert thread["values"]["review"] == {
        "decision": "approve",
        "comment": "Needs a second look <b>now</b>",
    }
    [deploy] = await pending(client, first["thread_id"])
    await page.goto(f"{server.url}/requests/{deploy['id']}")
    await expect(heading).to_have_text("Deploy approval Drop the users table")
    await expect(page.locator(".tests")).to_contain_text("Tests passed")
    await expect(page.locator(".timeline")).to_contain_text("Code review Drop the users table")
    shot = tmp_path / "deploy-approval.png"
    await page.screenshot(path=str(shot), full_page=True)
    keep_artifact(shot)
    await page.goto(f"{server.url}/threads")
    row = page.locator(f'tr[data-thread-id="{first["thread_id"]}"]')
    await expect(row).to_contain_text("Drop the users table")
    await expect(row).to_contain_text("waiting for Drop the users table")
    assert missing == []
    await context.close()


async def test_a_running_thread_shows_its_progress_live(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
    browser: Browser,
    tmp_path: Path,
) -> None:
    """A thread's page while its run is going: what its node reports and its steps appear as
    they come (from the run's stream on Redis), and when the run stops at its question, the
    request waiting for people appears, without a reload."""
    server = make_server().start()
    server.wait_ready()
    client = http(server.url)
    gate = tmp_path / "go"
    lg = get_client(url=server.url + "/lg", api_key=auth.ADMIN_KEY)
    thread_id = str(uuid.uuid4())
    await lg.runs.create(
        thread_id,
        "progress",
        input={"gate_file": str(gate)},
        stream_mode=["updates", "custom"],
        if_not_exists="create",
    )

    password = await auth.make_user(client, "watcher", role="viewer")
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    missing: list[str] = []
    context.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    await auth.sign_in_browser(context, server.url, "watcher", password)
    page = await context.new_page()
    await page.goto(f"{server.url}/threads/{thread_id}")
    await page.evaluate("window.__not_reloaded = true")
    log = page.locator("#progress-log")
    live = page.locator("#thread-live")

    # the run is going (it waits for the gate): its first note is there, nobody is asked yet
    await expect(log.locator('[data-progress="progress"]')).to_have_text(
        ['{"progress":"reading the diff"}'], timeout=WAIT_MS
    )
    await expect(live.locator("ul.pending")).to_have_count(0)
    await expect(live.locator(".meta").first).not_to_contain_text("interrupted")

    gate.write_text("go")
    await expect(log.locator('[data-progress="progress"]')).to_have_text(
        ['{"progress":"reading the diff"}', '{"progress":"diff read"}'], timeout=WAIT_MS
    )
    await expect(log.locator('[data-progress="node"]').first).to_have_text("Step done: work")
    await expect(log.locator('[data-progress="end"]')).to_have_text(["Run interrupted"])
    await expect(page.locator("#progress-status")).to_have_text("Run interrupted.")
    # the question's request, as the page shows what waits for people
    [request] = await pending(client, thread_id)
    card = live.locator(f'ul.pending a[href="/requests/{request["id"]}"]')
    await expect(card).to_be_visible(timeout=WAIT_MS)
    await expect(live.locator(".meta").first).to_contain_text("interrupted")
    assert await page.evaluate("window.__not_reloaded === true")
    shot = tmp_path / "thread-progress.png"
    await page.screenshot(path=str(shot), full_page=True)
    keep_artifact(shot)

    assert missing == []
    await context.close()


async def test_middleware_request_edited_in_the_browser(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
    browser: Browser,
    tmp_path: Path,
) -> None:
    server = make_server(HITL_GRAPHS=GRAPH_MODULES + ",graphs.langchain_agent").start()
    server.wait_ready()
    client = http(server.url)
    ask = {"messages": [{"type": "human", "content": "refund 120 EUR on order A-1001"}]}
    thread_id = await start(client, "refund_agent", ask)
    assert (await settle(client, thread_id))["status"] == "interrupted"
    [request] = await pending(client, thread_id)

    context = await browser.new_context()
    await auth.sign_in_browser(context, server.url)
    page = await context.new_page()
    await page.goto(f"{server.url}/requests/{request['id']}")
    amount = page.get_by_label("amount")
    await expect(amount).to_be_hidden()  # shown only for an edit
    await expect(page.get_by_label("Respond instead of running")).to_have_count(0)
    await page.get_by_label("Edit, then run").check()
    await expect(amount).to_have_value("120.0")
    await amount.fill("99.5")
    await page.get_by_role("button", name="Send answer").click()
    await expect(page.locator("#answer")).to_contain_text("admin answered at")

    thread = await settle(client, thread_id)
    assert thread["status"] == "completed", thread
    r = await client.get(f"/api/v1/requests/{request['id']}")
    assert r.json()["response"] == {
        "decisions": [
            {
                "type": "edit",
                "edited_action": {
                    "name": "issue_refund",
                    "args": {"order_id": "A-1001", "amount": 99.5},
                },
            }
        ]
    }
    assert "Refunded 99.50 EUR on order A-1001" in str(thread["values"])
    await page.screenshot(path=str(tmp_path / "middleware.png"), full_page=True)


async def test_an_agents_script_renders_inert(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
    browser: Browser,
) -> None:
    """Values from agents are text: no script runs, no handler fires, the CSP forbids inline."""
    server = make_server().start()
    server.wait_ready()
    client = http(server.url)
    evil = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
    request = await new_request(client, title=evil, author=evil)

    context = await browser.new_context()
    await auth.sign_in_browser(context, server.url)
    page = await context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    for path in ("/", f"/requests/{request['id']}"):
        await page.goto(server.url + path)
        await expect(page.get_by_text("<script>window.__pwned = 1</script>").first).to_be_visible()
        assert await page.evaluate("window.__pwned === undefined")
        assert await page.locator("img[src=x]").count() == 0
    assert dialogs == []
    await context.close()


async def test_admin_pages_fit_a_phone_and_each_row_saves_its_own_person(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
    browser: Browser,
) -> None:
    server = make_server().start()
    server.wait_ready()
    client = http(server.url)
    await auth.make_user(client, "dana", groups=["ops"])
    await auth.make_user(client, "lee", role="viewer")
    await auth.make_key(client, "threads:read", "requests:read", "requests:answer", name="bot")

    phone = await browser.new_context(viewport={"width": 390, "height": 800})
    await auth.sign_in_browser(phone, server.url)
    page = await phone.new_page()
    for path in ("/admin/users", "/admin/keys", "/admin/audit", "/threads", "/"):
        await page.goto(server.url + path)
        wide = await page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 390, f"{path} is {wide} px wide on a 390 px phone"
    await phone.close()

    desktop = await browser.new_context(viewport={"width": 1280, "height": 900})
    await auth.sign_in_browser(desktop, server.url)
    page = await desktop.new_page()
    await page.goto(server.url + "/admin/users")
    nav = page.get_by_role("navigation", name="Admin")
    await expect(nav.get_by_role("link", name="People")).to_have_attribute("aria-current", "page")
    # role and groups sit in columns of their own, and belong to their row's Save
    await page.get_by_label("Role of lee").select_option("responder")
    await page.get_by_label("Groups of lee").fill("reviewers ops")
    await (
        page.locator("tr", has=page.get_by_label("Role of lee"))
        .get_by_role("button", name="Save")
        .click()
    )
    await expect(page.get_by_label("Role of lee")).to_have_value("responder")
    people = {u["username"]: u for u in (await client.get("/api/v1/users")).json()}
    assert people["lee"]["role"] == "responder"
    assert sorted(people["lee"]["groups"]) == ["ops", "reviewers"]
    assert people["dana"]["role"] == "responder" and people["dana"]["groups"] == ["ops"]
    await desktop.close()


async def test_a_watched_threads_runs_from_the_inbox_show_their_steps_live(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
    browser: Browser,
    tmp_path: Path,
) -> None:
    """Not only runs started at the Agent Server door: while a thread's page is open, the runs
    it gets (here the resume an answer through /api/v1 queues) are streamed, and the page
    shows their steps as they come."""
    server = make_server().start()
    server.wait_ready()
    client = http(server.url)
    gate = tmp_path / "go"
    thread_id = await start(client, "progress", {"gate_file": str(gate)})

    password = await auth.make_user(client, "watcher", role="viewer")
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    await auth.sign_in_browser(context, server.url, "watcher", password)
    page = await context.new_page()
    await page.goto(f"{server.url}/threads/{thread_id}")
    await page.evaluate("window.__not_reloaded = true")
    log = page.locator("#progress-log")
    await expect(log.locator('[data-progress="run"]')).to_have_count(1, timeout=WAIT_MS)
    gate.write_text("go")  # the run started before anyone watched: its start and its end
    await expect(log.locator('[data-progress="end"]')).to_have_text(
        ["Run interrupted"], timeout=WAIT_MS
    )
    [request] = await pending(client, thread_id)
    r = await client.post(
        f"/api/v1/requests/{request['id']}/respond", json={"response": {"decision": "approve"}}
    )
    assert r.status_code == 200, r.text
    await expect(log.locator('[data-progress="node"]').last).to_have_text(
        "Step done: ask", timeout=WAIT_MS
    )
    await expect(log.locator('[data-progress="end"]')).to_have_text(
        ["Run interrupted", "Run completed"], timeout=WAIT_MS
    )
    assert await page.evaluate("window.__not_reloaded === true")
    await context.close()
