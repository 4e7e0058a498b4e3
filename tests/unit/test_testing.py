"""The test runner node: shell commands in a scratch folder, time limits, the built-in check."""

from __future__ import annotations

import time

from graphs.samples import HIGH_RISK_DIFF, LOW_RISK_DIFF
from nodes.testing import MAX_OUTPUT_CHARS, check_diff, run_command, run_tests, truncate


def test_passing_command_sees_the_diff_in_its_own_folder() -> None:
    result = run_command('test -f change.diff && cmp change.diff "$HITL_DIFF" && pwd', "x", 10)
    assert result["passed"] and result["exit_code"] == 0 and not result["timed_out"]
    assert "hitl-tests-" in result["output"]


def test_failing_command_keeps_exit_code_and_output() -> None:
    result = run_command("echo out; echo err >&2; exit 3", LOW_RISK_DIFF, 10)
    assert (result["passed"], result["exit_code"]) == (False, 3)
    assert result["output"].splitlines() == ["out", "err"]
    assert result["command"] == "echo out; echo err >&2; exit 3"


def test_timeout_kills_the_whole_process_group() -> None:
    started = time.monotonic()
    # The background sleep keeps the output pipe open: only a group kill ends it in time.
    result = run_command("sleep 30 & sleep 30", LOW_RISK_DIFF, 1)
    assert time.monotonic() - started < 10
    assert result["timed_out"] and not result["passed"] and result["exit_code"] is None
    assert "timed out after 1s" in result["output"]


def test_long_output_keeps_its_end() -> None:
    result = run_command("seq 1 20000", "", 10)
    assert len(result["output"]) <= MAX_OUTPUT_CHARS + 50
    assert result["output"].startswith("[... ") and result["output"].endswith("20000\n")
    assert truncate("short") == "short"


def test_builtin_check_passes_for_the_samples() -> None:
    for diff in (LOW_RISK_DIFF, HIGH_RISK_DIFF):
        result = check_diff(diff)
        assert result["passed"] and result["command"] is None, result["output"]


def test_builtin_check_names_the_problem() -> None:
    result = check_diff("--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n")
    assert not result["passed"]
    assert "declares -3 +3 lines but has -1 +1" in result["output"]


def test_node_picks_the_command_or_the_builtin_check() -> None:
    assert run_tests({"diff": LOW_RISK_DIFF})["tests"]["command"] is None
    assert run_tests({"diff": LOW_RISK_DIFF, "test_command": "  "})["tests"]["command"] is None
    tests = run_tests({"diff": "x", "test_command": "exit 1", "test_timeout_seconds": 5})["tests"]
    assert tests["command"] == "exit 1" and not tests["passed"]
