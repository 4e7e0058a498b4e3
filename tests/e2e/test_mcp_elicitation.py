"""An MCP server's elicitation, answered by a person in the inbox: a graph calls the server's
tools through langchain's MCP adapter (``langchain.mcp``), the server (the official ``mcp``
SDK, `tests.support.mcp_server`, a process started here) asks for a form or a visit, the
question becomes a request, and the answer resumes the tool call. The form is filled in
Chromium; decline and cancel go through the API, the same answer path."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from hitl.launcher import ServiceProcess, free_port
from tests.conftest import ROOT
from tests.support import auth
from tests.support.api import GRAPH_MODULES, pending, respond, settle, start
from tests.support.browser import chromium, keep_artifact

WAIT_MS = 20_000
GRAPHS = f"{GRAPH_MODULES},tests.support.mcp_graphs"


@pytest.fixture
def mcp_url(tmp_path: Path) -> Iterator[str]:
    """The test MCP server, over Streamable HTTP on a free port, stopped afterwards."""
    port = free_port()
    log = (tmp_path / "mcp-server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.support.mcp_server", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, (tmp_path / "mcp-server.log").read_text()
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the MCP server did not start"
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(10)
        log.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


async def ask(client: httpx.AsyncClient, url: str, tool: str, **arguments: str) -> dict[str, Any]:
    """Start a thread that calls ``tool``; its one pending request (the server's question)."""
    thread_id = await start(
        client, "mcp_tool", {"mcp_url": url, "tool": tool, "arguments": arguments}
    )
    assert (await settle(client, thread_id))["status"] == "interrupted"
    [request] = await pending(client, thread_id)
    return request


async def test_a_person_fills_the_servers_form_and_the_tool_call_completes(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
    browser: Browser,
    mcp_url: str,
    tmp_path: Path,
) -> None:
    server = make_server(HITL_GRAPHS=GRAPHS).start()
    server.wait_ready()
    client = http(server.url)
    request = await ask(client, mcp_url, "book_table", restaurant="Chez Nous")
    [question] = request["value"]["requests"]
    assert request["value"]["type"] == "mcp_elicitation"
    assert (question["mode"], question["message"]) == ("form", "Who is the table at Chez Nous for?")
    key = question["key"]

    # an answer of the wrong shape is refused at the field, and changes nothing
    wrong = {"responses": {key: {"action": "accept", "content": {"name": "Ana", "party_size": 40}}}}
    r = await respond(client, request["id"], wrong)
    assert r.status_code == 422, r.text
    [problem] = r.json()["detail"]
    assert problem["loc"] == ["body", "response", "responses", key, "content", "party_size"]
    r = await respond(client, request["id"], {"responses": {key: {"action": "maybe"}}})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][-1] == "action"
    assert (await client.get(f"/api/v1/requests/{request['id']}")).json()["state"] == "pending"

    threads_page = (await client.get("/threads")).text  # titled by the question it waits on
    assert "Who is the table at Chez Nous for?" in threads_page

    password = await auth.make_user(client, "booker", display_name="Booker")
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    await auth.sign_in_browser(context, server.url, "booker", password)
    page = await context.new_page()
    await page.goto(f"{server.url}/requests/{request['id']}")
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "Tool input Who is the table at Chez Nous for?"
    )
    await expect(page.locator(".context")).to_contain_text("book_table")
    for button in ("Accept", "Decline", "Cancel"):
        await expect(page.get_by_role("button", name=button, exact=True)).to_be_visible()

    # the server's bounds hold in the browser as at the API: the error at its field
    await page.get_by_label("Name").fill("Ana")
    await page.get_by_label("Party Size").fill("40")
    await page.get_by_role("button", name="Accept", exact=True).click()
    size = page.locator(".field", has=page.get_by_label("Party Size"))
    await expect(size.locator(".error")).to_have_text("40 is greater than the maximum of 12")
    await expect(page.get_by_label("Name")).to_have_value("Ana")  # nothing typed is lost

    await page.get_by_label("Party Size").fill("3")
    await page.get_by_label("Terrace").check()
    shot = tmp_path / "mcp-elicitation-form.png"
    await page.screenshot(path=str(shot), full_page=True)
    keep_artifact(shot)
    await page.get_by_role("button", name="Accept", exact=True).click()
    await expect(page).to_have_url(f"{server.url}/requests/{request['id']}#answer")
    await expect(page.locator("#answer")).to_contain_text("booker answered at")

    thread = await settle(client, request["thread_id"])
    assert thread["status"] == "completed", thread
    assert thread["values"]["result"] == "Booked Chez Nous for Ana, 3 people on the terrace."
    answered = (await client.get(f"/api/v1/requests/{request['id']}")).json()
    assert answered["response"] == {
        "responses": {
            key: {"action": "accept", "content": {"name": "Ana", "party_size": 3, "terrace": True}}
        }
    }

    # a page to visit: the link with its host emphasised, and "Done"
    visit = await ask(client, mcp_url, "connect_account", service="github")
    await page.goto(f"{server.url}/requests/{visit['id']}")
    link = page.get_by_role("link", name=re.compile("accounts.example.com"))
    await expect(link).to_have_attribute(
        "href", "https://accounts.example.com/connect?service=github"
    )
    await expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    await expect(link.locator(".host")).to_have_text("accounts.example.com")
    shot = tmp_path / "mcp-elicitation-url.png"
    await page.screenshot(path=str(shot), full_page=True)
    keep_artifact(shot)
    await page.get_by_role("button", name="Done", exact=True).click()
    await expect(page).to_have_url(f"{server.url}/requests/{visit['id']}#answer")
    thread = await settle(client, visit["thread_id"])
    assert thread["values"]["result"] == "Connect github: the person chose accept."


@pytest.mark.parametrize("action", ["decline", "cancel"])
async def test_declining_or_cancelling_reaches_the_server(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
    mcp_url: str,
    action: str,
) -> None:
    server = make_server(HITL_GRAPHS=GRAPHS).start()
    server.wait_ready()
    client = http(server.url)
    request = await ask(client, mcp_url, "book_table", restaurant="Le Coin")
    [question] = request["value"]["requests"]
    # a refusal carries no content
    with_content = {"responses": {question["key"]: {"action": action, "content": {}}}}
    r = await respond(client, request["id"], with_content)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][-1] == "content"
    r = await respond(client, request["id"], {"responses": {question["key"]: {"action": action}}})
    assert r.status_code == 200, r.text
    thread = await settle(client, request["thread_id"])
    assert thread["status"] == "completed", thread
    assert thread["values"]["result"] == f"No booking: the person chose {action}."
