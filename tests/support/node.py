"""Node.js for the JavaScript client's test: the system ``node``, and the packages ``npm ci``
installed from ``tests/js/package-lock.json`` (``make test`` does it first: the tests
themselves never reach a registry)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

JS_DIR = Path(__file__).resolve().parent.parent / "js"
MIN_MAJOR = 20
# The client's own dependencies declare node >= 20 (Debian 12's `nodejs` package is 18).
NEEDED = (
    f"Node.js {MIN_MAJOR}+ and npm are needed for the JavaScript client's test "
    "(tests/e2e/test_js_client.py): install them from nodejs.org or NodeSource"
)


def node_version() -> tuple[int, ...] | None:
    """The ``node`` on PATH's version, or None when there is none."""
    node = shutil.which("node")
    if node is None:
        return None
    done = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        return None
    return tuple(int(part) for part in done.stdout.strip().lstrip("v").split(".") if part.isdigit())


def missing_node() -> str | None:
    """What to do when the test cannot run node with the client installed, else None."""
    version = node_version()
    if version is None or shutil.which("npm") is None:
        return NEEDED + "."
    if version[0] < MIN_MAJOR:
        found = ".".join(map(str, version))
        return f"{NEEDED}; found node {found}."
    if not (JS_DIR / "node_modules" / "@langchain" / "langgraph-sdk").is_dir():
        return (
            "tests/js/node_modules is missing: run `make tests/js/node_modules` "
            "(`make test` does it first)."
        )
    return None
