"""Screenshots of the web UI's pages in Chromium, at desktop (1280 px) and phone (390 px) widths.

Run from the checkout: ``make screenshots`` (or ``.venv/bin/python docs/screenshots/take.py``).
It starts the service on embedded engines in a temporary folder, makes an example thread, a few
people and keys, signs in as the first-start admin and writes ``<page>-<width>.png`` here (or
to the folder given as the first argument). It drives Debian's Chromium, as the UI tests do
(``HITL_TEST_CHROMIUM`` names another); no browser is downloaded.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.async_api import Page, async_playwright

from graphs.samples import HIGH_RISK_DIFF, LOW_RISK_DIFF
from hitl.launcher import ServiceProcess, base_env

HERE = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("HITL_TEST_CHROMIUM", "/usr/bin/chromium")
WIDTHS = (1280, 390)


async def example_data(url: str, key: str) -> dict[str, str]:
    """A review waiting, a deploy approval waiting, people and keys; the pages to visit."""
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as api:
        for name, role, groups in (
            ("dana", "responder", ["reviewers", "ops"]),
            ("lee", "viewer", []),
            ("sam", "admin", ["ops"]),
        ):
            body = {"username": name, "role": role, "display_name": name.title(), "groups": groups}
            (await api.post("/api/v1/users", json={**body, "password": f"{name}-password"}))
        await api.post("/api/v1/apikeys", json={"name": "ci", "scopes": ["threads:read"]})
        await api.post(
            "/api/v1/apikeys",
            json={"name": "deploy-bot", "scopes": ["requests:read", "requests:answer"]},
        )
        threads = []
        for title, diff in (
            ("Drop the users table", HIGH_RISK_DIFF),
            ("Fix a typo", LOW_RISK_DIFF),
        ):
            r = await api.post(
                "/api/v1/threads",
                json={"graph": "code_review", "input": {"diff": diff, "title": title}},
            )
            threads.append(r.json()["thread_id"])
        first = await wait_pending(api, threads[0])
        await api.post(
            f"/api/v1/requests/{first}/respond", json={"response": {"decision": "approve"}}
        )
        deploy = await wait_pending(api, threads[0], not_id=first)
        await wait_pending(api, threads[1])
    return {
        "inbox": "/",
        "request": f"/requests/{first}",
        "deploy-approval": f"/requests/{deploy}",
        "threads": "/threads",
        "thread": f"/threads/{threads[0]}",
        "admin-people": "/admin/users",
        "admin-keys": "/admin/keys",
        "admin-audit": "/admin/audit",
        "status": "/status",
    }


async def wait_pending(api: httpx.AsyncClient, thread_id: str, not_id: str = "") -> str:
    for _ in range(600):
        r = await api.get(f"/api/v1/threads/{thread_id}")
        ids = [i["request_id"] for i in r.json().get("interrupts", []) if i["request_id"] != not_id]
        if ids:
            return str(ids[0])
        await asyncio.sleep(0.1)
    raise SystemExit(f"thread {thread_id} never asked anyone")


async def shoot(url: str, password: str, pages: dict[str, str], out: Path) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--headless=new", "--no-sandbox"]
        )
        for width in WIDTHS:
            context = await browser.new_context(viewport={"width": width, "height": 900})
            page = await context.new_page()
            await page.goto(url + "/login")
            await save(page, out / f"login-{width}.png")
            await page.get_by_label("Username").fill("admin")
            await page.get_by_label("Password").fill(password)
            await page.get_by_role("button", name="Sign in").click()
            await page.wait_for_url(url + "/")
            for name, path in pages.items():
                await page.goto(url + path)
                await save(page, out / f"{name}-{width}.png")
            await context.close()
        await browser.close()


async def save(page: Page, path: Path) -> None:
    await page.wait_for_load_state("networkidle")
    await page.screenshot(path=str(path), full_page=True)
    print(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    out.mkdir(parents=True, exist_ok=True)
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} not found: sudo apt-get install -y chromium")
    with tempfile.TemporaryDirectory(prefix="hitl-screenshots-") as folder:
        env = {**base_env(), "HITL_DATA_DIR": folder, "HITL_LOG_FORMAT": "plain"}
        server = ServiceProcess(env, Path(folder) / "service.log").start()
        try:
            server.wait_ready(timeout=120)
            found = re.search(r"with password: (\S+)", server.log())
            if found is None:
                raise SystemExit("the service printed no admin password:\n" + server.log())
            pages = asyncio.run(example_data(server.url, server.create_api_key("screenshots")))
            asyncio.run(shoot(server.url, found.group(1), pages, out))
        finally:
            server.terminate()


if __name__ == "__main__":
    main()
