"""The README's quick start, run as a reader runs it: its shell blocks are read from the README
(not copied here), so the README cannot drift from the product.

The only changes made to the text are those a reader makes: the port (``HITL_PORT``, as the
README says, so the test does not need 8000 free), the data folder (``HITL_DATA_DIR``, so the
checkout's own ``.hitl/`` is left alone) and the ``<id>`` / ``<thread_id>`` placeholders, filled
from what the commands before them printed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from hitl.launcher import ServiceProcess, base_env
from tests.conftest import ROOT
from tests.integration.test_embedded import wait_no_engines

README = (ROOT / "README.md").read_text()
QUICK_START = README.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
BLOCKS = re.findall(r"```(\w*)\n(.*?)```", QUICK_START, flags=re.S)


def shell_blocks() -> list[str]:
    return [text for lang, text in BLOCKS if lang == "sh"]


def commands(block: str) -> list[str]:
    """The block's commands, one string each: continuation lines and here-documents joined,
    comment-only lines dropped."""
    found: list[str] = []
    lines = iter(block.splitlines())
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        command = [line]
        while command[-1].rstrip().endswith("\\"):
            command.append(next(lines))
        heredoc = re.search(r"<<'?(\w+)'?", line)
        if heredoc:
            for body in lines:
                command.append(body)
                if body == heredoc.group(1):
                    break
        found.append("\n".join(command))
    return found


def run(script: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-c", "set -eo pipefail\n" + script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{script}\n-> {done.returncode}\n{done.stdout}{done.stderr}"
    return done.stdout


def until(check: Any, what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.5)
    raise AssertionError(f"no {what} after {timeout}s")


def test_quick_start_as_written(tmp_path: Path) -> None:
    [make_block, key_block, try_block] = shell_blocks()
    [make_run] = [c.split("#")[0].strip() for c in commands(make_block) if "make run" in c]
    assert any(c.startswith("make test") for c in commands(make_block))

    env = {**base_env(), "HITL_DATA_DIR": str(tmp_path / "data")}
    server = ServiceProcess(
        env, tmp_path / "make-run.log", cwd=ROOT, command=["bash", "-c", make_run]
    )
    env = server.env  # the port the reader chose
    server.start()
    try:
        server.wait_ready()
        # The banner the README shows, with the password where it says "<printed here>".
        [banner] = [text for lang, text in BLOCKS if lang == "" and "First start" in text]
        words = banner.replace(":8000", f":{server.port}").replace("<printed here>", "\0").split()
        expected = r"\s+".join(r"\S+" if w == "\0" else re.escape(w) for w in words)
        assert re.search(expected, server.log()), server.log()

        # The API key, made while the service runs.
        [export] = commands(key_block)
        key = run(f'{export}\necho "$HITL_API_KEY"', env).strip().splitlines()[-1]
        assert key.startswith("hitl_"), key
        env = {**env, "HITL_API_KEY": key}

        steps = [
            c.replace("localhost:8000", f"localhost:{server.port}") for c in commands(try_block)
        ]
        setup = "\n".join(s for s in steps if re.match(r"\w+=", s))
        start, inbox, respond, status = (s for s in steps if s.startswith("curl"))

        def shell(step: str) -> Any:
            return json.loads(run(f"{setup}\n{step}", env))

        thread_id = shell(start)["thread_id"]
        # The thread runs in the background; the review shows in the inbox once it pauses.
        request = until(
            lambda: next((r for r in shell(inbox)["items"] if r["thread_id"] == thread_id), None),
            "pending review in the inbox",
        )
        assert request["value"]["kind"] == "code_review", request
        answered = shell(respond.replace("<id>", request["id"]))
        assert answered["state"] == "responded", answered
        assert answered["response"] == {"decision": "approve", "comment": "ok"}

        # The thread resumed past the review: it is done, or waits on its next question.
        thread = until(
            lambda: (
                (t := shell(status.replace("<thread_id>", thread_id)))["status"] != "running"
                and all(i["request_id"] != request["id"] for i in t["interrupts"])
                and t
            ),
            "thread past the review",
        )
        assert thread["status"] in ("completed", "interrupted"), thread
    finally:
        # Ctrl-C in the terminal of `make run`: the whole foreground group gets SIGINT.
        if server.proc and server.proc.poll() is None:
            os.killpg(server.proc.pid, signal.SIGINT)
            server.wait_exit()
    wait_no_engines(tmp_path / "data")
