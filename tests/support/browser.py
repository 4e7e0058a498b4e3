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


def missing_chromium() -> str | None:
    """What to do when the Chromium the UI tests drive is not installed, else None."""
    if Path(CHROMIUM).exists():
        return None
    return (
        f"{CHROMIUM} not found: the UI tests drive Debian's Chromium. Install it with "
        "`sudo apt-get install -y chromium` (or set HITL_TEST_CHROMIUM to a Chromium binary)."
    )


def require_chromium() -> None:
    if (missing := missing_chromium()) is not None:
        raise AssertionError(missing)


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
