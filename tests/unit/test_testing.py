"""The test runner node: operator profiles run without a shell, in a scratch folder, with an
environment of their own and a time limit; the built-in check."""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from graphs.samples import HIGH_RISK_DIFF, LOW_RISK_DIFF
from nodes import testing
from nodes.testing import MAX_OUTPUT_CHARS, Profile, check_diff, run_command, run_tests, truncate

PY = sys.executable  # an absolute path: the scrubbed PATH need not hold it


def test_shell_metacharacters_in_an_argument_are_literal(tmp_path: Path) -> None:
    marker = tmp_path / "injected"
    argv = ["echo", f"a; touch {marker}", "$(id)", "`id`", "*", "|", "&&", "$HOME"]
    result = run_command(argv, LOW_RISK_DIFF, 10)
    assert result["passed"] and result["exit_code"] == 0, result["output"]
    assert result["output"] == f"a; touch {marker} $(id) `id` * | && $HOME\n"
    assert not marker.exists()


def test_the_command_runs_in_its_own_folder_next_to_the_diff() -> None:
    script = (
        "import os; d = open(os.environ['HITL_DIFF']).read(); "
        "print(os.getcwd() == os.environ['HOME'], open('change.diff').read() == d == 'x', "
        "os.path.dirname(os.environ['HITL_DIFF']) == os.getcwd(), os.path.basename(os.getcwd()))"
    )
    result = run_command([PY, "-c", script], "x", 10)
    assert result["passed"], result["output"]
    assert result["output"].startswith("True True True hitl-tests-")
    assert shlex.split(str(result["command"])) == [PY, "-c", script]  # quoted, for reading


def test_the_services_environment_is_not_visible_to_the_child(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HITL_DATABASE_URL", "postgresql://hitl:db-password@db/hitl")
    monkeypatch.setenv("HITL_SMTP_PASSWORD", "smtp-password")
    monkeypatch.setenv("PATH", "/opt/service-only/bin:" + os.environ["PATH"])
    result = run_command(["env"], LOW_RISK_DIFF, 10, {"CI": "1"})
    assert result["passed"], result["output"]
    env = dict(line.split("=", 1) for line in result["output"].splitlines())
    assert set(env) == {"PATH", "HOME", "LANG", "LC_ALL", "HITL_DIFF", "CI"}
    assert env["PATH"] == testing.SAFE_PATH and env["CI"] == "1"
    assert "password" not in result["output"] and "service-only" not in result["output"]


def test_a_profile_may_set_path_but_not_the_diff(tmp_path: Path) -> None:
    result = run_command(["env"], "", 10, {"PATH": str(tmp_path) + ":/usr/bin:/bin"})
    assert f"PATH={tmp_path}:/usr/bin:/bin\n" in result["output"]
    with pytest.raises(ValidationError, match="HITL_DIFF is set by the runner"):
        Profile(argv=["env"], env={"HITL_DIFF": "/etc/passwd"})


def test_failing_command_keeps_exit_code_and_output() -> None:
    script = "import sys; print('out', flush=True); print('err', file=sys.stderr); sys.exit(3)"
    result = run_command([PY, "-c", script], LOW_RISK_DIFF, 10)
    assert (result["passed"], result["exit_code"], result["timed_out"]) == (False, 3, False)
    assert result["output"].splitlines() == ["out", "err"]


def test_a_missing_program_fails_without_running() -> None:
    result = run_command(["no-such-program-hitl"], LOW_RISK_DIFF, 10)
    assert (result["passed"], result["exit_code"]) == (False, None)
    assert result["output"].startswith("could not start 'no-such-program-hitl'")


def _gone(pid: int) -> bool:
    """No such process, or a zombie nobody reaped yet (it runs no more either way).

    A killed process closes its files (so the runner's read of the pipe ends) a moment before
    it turns into a zombie: give the kernel a few seconds to finish the exit it has begun."""
    for _ in range(100):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return True
        time.sleep(0.05)
    return False


def test_timeout_kills_the_whole_process_group() -> None:
    # The grandchild keeps the output pipe open: unless the whole group is killed, the runner
    # gets no output back and the grandchild lives on.
    script = (
        "import subprocess, time; "
        "p = subprocess.Popen(['sleep', '300']); print(p.pid, flush=True); time.sleep(300)"
    )
    result = run_command([PY, "-c", script], LOW_RISK_DIFF, 1)
    assert result["timed_out"] and not result["passed"] and result["exit_code"] is None
    assert "timed out after 1s; process group killed" in result["output"]
    grandchild = int(result["output"].split()[0])
    assert _gone(grandchild)


def test_long_output_keeps_its_end() -> None:
    result = run_command(["seq", "1", "20000"], "", 10)
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


def test_a_profile_string_is_split_but_never_given_to_a_shell() -> None:
    profile = Profile(argv="echo 'a b' ; id")
    assert profile.argv == ("echo", "a b", ";", "id")
    assert run_command(profile.argv, "", 10)["output"] == "a b ; id\n"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"argv": []}, "at least 1 item"),
        ({"argv": [""]}, "must not be empty"),
        ({"argv": ["true"], "timeout_seconds": 0}, "greater than 0"),
        ({"argv": ["true"], "timeout_seconds": 3601}, "less than or equal to 3600"),
        ({"argv": ["true"], "env": {"A B": "1"}}, "not an environment variable name"),
        ({"argv": ["true"], "command": "true"}, "Extra inputs"),
    ],
)
def test_a_bad_profile_is_refused(fields: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Profile.model_validate(fields)


def test_profiles_come_from_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HITL_TEST_PROFILES", raising=False)
    assert testing.configured_profiles() == {}
    value = {"unit": {"argv": "pytest -q", "timeout_seconds": 300, "env": {"CI": "1"}}}
    monkeypatch.setenv("HITL_TEST_PROFILES", json.dumps(value))
    assert testing.configured_profiles() == {
        "unit": Profile(argv=["pytest", "-q"], timeout_seconds=300, env={"CI": "1"})
    }
    monkeypatch.setenv("HITL_TEST_PROFILES", json.dumps({"bad name!": {"argv": ["true"]}}))
    with pytest.raises(ValidationError, match="test_profiles"):
        testing.configured_profiles()


def test_node_runs_a_named_profile_or_the_builtin_check() -> None:
    profiles = {"fails": Profile(argv=["false"]), "passes": Profile(argv=["true"])}
    assert run_tests({"diff": LOW_RISK_DIFF}, profiles)["tests"]["command"] is None
    assert run_tests({"diff": LOW_RISK_DIFF, "test_profile": None}, profiles)["tests"]["passed"]
    tests = run_tests({"diff": "x", "test_profile": "fails"}, profiles)["tests"]
    assert (tests["profile"], tests["command"], tests["exit_code"]) == ("fails", "false", 1)
    assert run_tests({"diff": "x", "test_profile": "passes"}, profiles)["tests"]["passed"]


def test_node_runs_nothing_for_a_name_the_operator_did_not_configure() -> None:
    for name in ("nope", "true", ["true"]):
        tests = run_tests({"diff": LOW_RISK_DIFF, "test_profile": name}, {})["tests"]
        assert (tests["passed"], tests["command"], tests["exit_code"]) == (False, None, None)
        assert "nothing was run" in tests["output"]
