"""The docs stay true: every setting is documented (docs/settings.md), the README's quick start
is the two commands, its first graph prints what it shows, its links name files that exist."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from hitl.config import Settings
from hitl.launcher import base_env

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


def test_the_first_graph_keeps_its_input_and_prints_what_the_readme_shows(
    tmp_path: Path,
) -> None:
    # The section's code blocks as a reader copies them: the graph, the try-it, its output.
    section = README.split("## Write your first graph", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, re.S)
    graph, run = [code for lang, code in blocks if lang == "python"][:2]
    [shown] = [code for lang, code in blocks if lang == ""][:1]
    script = tmp_path / "first_graph.py"
    script.write_text(graph + "\n" + run)
    out = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=base_env(),
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == shown


def test_the_readme_lists_every_notebook_and_how_to_open_them() -> None:
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 5
    assert [n for n in notebooks if f"- `{n}` — " not in README] == []
    assert "make notebook" in README
    makefile = (ROOT / "Makefile").read_text()
    assert "\nnotebook:" in makefile and "jupyter lab" in makefile
    # Jupyter Lab is the `notebook` extra's, not `dev`'s: `make test` never installs it
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    assert any(d.startswith("jupyterlab") for d in extras["notebook"])
    assert not any(d.startswith("jupyterlab") for d in extras["dev"])


def test_readme_links_to_files_that_exist() -> None:
    """The README links its reference pages: none may be missing (nor a page's own links)."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    missing = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" not in target and not (page.parent / target).exists():
                missing.append(f"{page.relative_to(ROOT)} -> {target}")
    assert missing == []
