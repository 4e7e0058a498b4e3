"""A real Chromium for UI tests: Debian's ``chromium`` package driven by Playwright for Python.

No browser is downloaded (no ``playwright install``): Playwright launches the system binary,
``/usr/bin/chromium`` (``HITL_TEST_CHROMIUM`` overrides it). `.ci/run` installs the package.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, async_playwright

CHROMIUM = os.environ.get("HITL_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        raise AssertionError(
            f"{CHROMIUM} not found: the UI tests need Debian's chromium package "
            "(apt-get install -y chromium), or HITL_TEST_CHROMIUM pointing at a Chromium"
        )


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Chromium, closed afterwards. Fails (never skips) when it is not installed."""
    require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


def keep_artifact(path: Path) -> None:
    """Copy a screenshot to ``$HITL_TEST_ARTIFACTS`` when set (CI keeps that folder)."""
    folder = os.environ.get("HITL_TEST_ARTIFACTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / path.name)
