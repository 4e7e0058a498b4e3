"""The docs stay true: every setting is documented (docs/settings.md), the README's quick start
is the two commands."""

from __future__ import annotations

import re
from pathlib import Path

from hitl.config import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
SETTINGS = (ROOT / "docs" / "settings.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [
        f"HITL_{n.upper()}" for n in Settings.model_fields if f"`HITL_{n.upper()}`" not in SETTINGS
    ]
    assert missing == []


def test_quick_start_is_make_run_and_make_test() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("##", 1)[0]
    assert "make run" in quick_start and "make test" in quick_start


def test_readme_links_to_files_that_exist() -> None:
    """The README links its reference pages: none may be missing (nor a page's own links)."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    missing = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" not in target and not (page.parent / target).exists():
                missing.append(f"{page.relative_to(ROOT)} -> {target}")
    assert missing == []
