"""The ``run_tests`` node: a shell command against the change, or a built-in diff check.

With ``test_command`` the command runs through ``/bin/sh`` in a fresh temporary folder holding
the diff as ``change.diff`` (also named by ``$HITL_DIFF``), under a time limit; a timeout is a
failure and kills the command's whole process group. Without a command, the built-in check
verifies the diff is well-formed: file headers present, each hunk's lines matching its
``@@ -a,b +c,d @@`` counts.

The node is synchronous on purpose: LangGraph runs sync nodes in a worker thread, so a
blocking ``subprocess`` wait does not stall the event loop.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict

from nodes.diff import parse_diff

DEFAULT_TIMEOUT_SECONDS = 60.0
MAX_OUTPUT_CHARS = 20_000
DIFF_FILENAME = "change.diff"


class RunResult(TypedDict):
    """What ``run_tests`` writes to the state under ``tests``."""

    passed: bool
    command: str | None  # None for the built-in diff check
    exit_code: int | None  # None when no process ran, or it was killed on timeout
    output: str
    duration_ms: int
    timed_out: bool


def truncate(output: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    """Keep the end of long output, where test runners print their summary."""
    if len(output) <= limit:
        return output
    return f"[... {len(output) - limit} characters cut ...]\n" + output[-limit:]


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # already gone
        pass


def run_command(command: str, diff: str, timeout: float) -> RunResult:
    """Run ``command`` with a shell in a temporary folder containing ``change.diff``."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hitl-tests-", ignore_cleanup_errors=True) as tmp:
        diff_path = Path(tmp) / DIFF_FILENAME
        diff_path.write_text(diff, encoding="utf-8")
        env = {**os.environ, "HITL_DIFF": str(diff_path)}
        with subprocess.Popen(
            command,
            shell=True,
            cwd=tmp,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a timeout kills children too
        ) as proc:
            timed_out = False
            try:
                raw, _ = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc)
                try:
                    raw, _ = proc.communicate(timeout=5)
                except subprocess.TimeoutExpired:  # a child escaped the group holding the pipe
                    raw = b""
    output = raw.decode("utf-8", errors="replace")
    if timed_out:
        output += f"\n[timed out after {timeout:g}s; process group killed]"
    return RunResult(
        passed=not timed_out and proc.returncode == 0,
        command=command,
        exit_code=None if timed_out else proc.returncode,
        output=truncate(output),
        duration_ms=round((time.monotonic() - started) * 1000),
        timed_out=timed_out,
    )


def check_diff(diff: str) -> RunResult:
    """The built-in check: the diff parses cleanly and every hunk's counts match its header."""
    started = time.monotonic()
    parsed = parse_diff(diff)
    hunks = sum(len(f.hunks) for f in parsed.files)
    if parsed.well_formed:
        output = f"diff check: {len(parsed.files)} file(s), {hunks} hunk(s), all counts match"
    else:
        problems = "\n".join(f"- {e.message}" for e in parsed.errors)
        output = f"diff check failed ({len(parsed.errors)} problem(s)):\n{problems}"
    return RunResult(
        passed=parsed.well_formed,
        command=None,
        exit_code=None,
        output=truncate(output),
        duration_ms=round((time.monotonic() - started) * 1000),
        timed_out=False,
    )


def run_tests(state: Mapping[str, Any]) -> dict[str, Any]:
    """The ``run_tests`` node: reads ``diff``, ``test_command``, ``test_timeout_seconds``;
    writes ``tests`` (a `RunResult`)."""
    command = (state.get("test_command") or "").strip()
    if not command:
        return {"tests": check_diff(state["diff"])}
    timeout = float(state.get("test_timeout_seconds") or DEFAULT_TIMEOUT_SECONDS)
    return {"tests": run_command(command, state["diff"], timeout)}
