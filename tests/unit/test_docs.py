"""The README stays true: every setting is documented, the quick start is the two commands."""

from __future__ import annotations

from pathlib import Path

from hitl.config import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [
        f"HITL_{n.upper()}" for n in Settings.model_fields if f"`HITL_{n.upper()}`" not in README
    ]
    assert missing == []


def test_quick_start_is_make_run_and_make_test() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("##", 1)[0]
    assert "make run" in quick_start and "make test" in quick_start
