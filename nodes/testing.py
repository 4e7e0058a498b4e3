"""The ``run_tests`` node: an operator's test profile against the change, or a built-in check.

Graph input comes from clients, so it never chooses a program. The service's operator defines
**test profiles** (a name, an argv, a time limit and the environment variables the test needs)
in code, when registering a graph, or in the ``HITL_TEST_PROFILES`` setting (JSON, see
`ProfileSettings`); a client's input may only *name* one (``test_profile``).

A profile runs without a shell (its argv is executed as is, so ``;``, ``$(...)`` or ``*`` in an
argument are plain characters) in a fresh temporary folder holding the diff as ``change.diff``,
with an environment built from nothing: `SAFE_PATH`, ``HOME`` (the folder), ``LANG`` /
``LC_ALL``, the profile's own variables and ``HITL_DIFF`` (the diff's path). The service's
environment (database URL, SMTP password, webhook URLs, ...) is never passed on. Running over
the profile's time limit is a failure and kills the command's whole process group. Without a
profile, the built-in check verifies the diff is well-formed: file headers present, each hunk's
lines matching its ``@@ -a,b +c,d @@`` counts.

The scrubbed environment keeps the service's secrets from reaching a test by accident; it is
not a sandbox. A profile that applies the diff and runs its code runs whatever the client
wrote, as the service's user: such a profile should start the tests in a container or sandbox
(its argv may well be ``docker run ...``).

The node is synchronous on purpose: LangGraph runs sync nodes in a worker thread, so a
blocking ``subprocess`` wait does not stall the event loop.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, TypedDict

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from nodes.diff import parse_diff

DEFAULT_TIMEOUT_SECONDS = 60.0
MAX_TIMEOUT_SECONDS = 3600.0
MAX_OUTPUT_CHARS = 20_000
DIFF_FILENAME = "change.diff"
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
LOCALE = "C.UTF-8"

ProfileName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Profile(BaseModel):
    """How the operator wants a change tested: a program and its arguments, never a shell line.

    ``argv`` may be given as one string for convenience; it is split like a shell would split
    it (`shlex.split`) but still executed without a shell. ``env`` holds the variables the test
    needs besides the minimal environment every run gets (it may set ``PATH``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    argv: tuple[str, ...] = Field(min_length=1)
    timeout_seconds: float = Field(default=DEFAULT_TIMEOUT_SECONDS, gt=0, le=MAX_TIMEOUT_SECONDS)
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("argv", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return shlex.split(value) if isinstance(value, str) else value

    @field_validator("argv")
    @classmethod
    def _program(cls, argv: tuple[str, ...]) -> tuple[str, ...]:
        if not argv[0]:
            raise ValueError("the program (argv[0]) must not be empty")
        return argv

    @field_validator("env")
    @classmethod
    def _names(cls, env: dict[str, str]) -> dict[str, str]:
        for name in env:
            if not _ENV_NAME.match(name):
                raise ValueError(f"{name!r} is not an environment variable name")
            if name == "HITL_DIFF":
                raise ValueError("HITL_DIFF is set by the runner (the diff's path)")
        return env


Profiles = Mapping[str, Profile]


class ProfileSettings(BaseSettings):
    """``HITL_TEST_PROFILES``: the profiles the example graphs and agents offer, as JSON, e.g.
    ``{"unit": {"argv": ["pytest", "-q"], "timeout_seconds": 300, "env": {"CI": "1"}}}``."""

    model_config = SettingsConfigDict(env_prefix="HITL_", extra="ignore", hide_input_in_errors=True)

    test_profiles: dict[ProfileName, Profile] = Field(default_factory=dict)


def configured_profiles() -> dict[str, Profile]:
    """The profiles of the ``HITL_TEST_PROFILES`` setting; a bad value raises at start-up."""
    return dict(ProfileSettings().test_profiles)


class RunResult(TypedDict):
    """What ``run_tests`` writes to the state under ``tests``."""

    passed: bool
    profile: str | None  # None for the built-in diff check
    command: str | None  # the profile's argv, shell-quoted for reading; None when nothing ran
    exit_code: int | None  # None when no process ran, or it was killed on timeout
    output: str
    duration_ms: int
    timed_out: bool


def truncate(output: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    """Keep the end of long output, where test runners print their summary."""
    if len(output) <= limit:
        return output
    return f"[... {len(output) - limit} characters cut ...]\n" + output[-limit:]


def child_env(folder: Path, diff_path: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """The whole environment of a test run: built from nothing, so no secret of the service's
    own environment reaches it."""
    base = {"PATH": SAFE_PATH, "HOME": str(folder), "LANG": LOCALE, "LC_ALL": LOCALE}
    return {**base, **extra, "HITL_DIFF": str(diff_path)}


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # already gone
        pass


def run_command(
    argv: Sequence[str], diff: str, timeout: float, env: Mapping[str, str] | None = None
) -> RunResult:
    """Run ``argv`` (no shell) in a temporary folder containing ``change.diff``."""
    argv = list(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hitl-tests-", ignore_cleanup_errors=True) as tmp:
        folder = Path(tmp)
        diff_path = folder / DIFF_FILENAME
        diff_path.write_text(diff, encoding="utf-8")
        try:
            proc = subprocess.Popen(
                argv,
                shell=False,
                cwd=folder,
                env=child_env(folder, diff_path, env or {}),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so a timeout kills children too
            )
        except OSError as exc:  # no such program, not executable, ...
            return _not_run(argv, f"could not start {argv[0]!r}: {exc.strerror or exc}", started)
        with proc:
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
        profile=None,
        command=shlex.join(argv),
        exit_code=None if timed_out else proc.returncode,
        output=truncate(output),
        duration_ms=round((time.monotonic() - started) * 1000),
        timed_out=timed_out,
    )


def _not_run(argv: Sequence[str] | None, output: str, started: float) -> RunResult:
    return RunResult(
        passed=False,
        profile=None,
        command=shlex.join(argv) if argv else None,
        exit_code=None,
        output=output,
        duration_ms=round((time.monotonic() - started) * 1000),
        timed_out=False,
    )


def run_profile(name: str, profile: Profile, diff: str) -> RunResult:
    """Run the operator's profile ``name`` against ``diff``, under the profile's time limit."""
    result = run_command(profile.argv, diff, profile.timeout_seconds, profile.env)
    result["profile"] = name
    return result


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
        profile=None,
        command=None,
        exit_code=None,
        output=truncate(output),
        duration_ms=round((time.monotonic() - started) * 1000),
        timed_out=False,
    )


def run_tests(state: Mapping[str, Any], profiles: Profiles) -> dict[str, Any]:
    """The ``run_tests`` node's work: reads ``diff`` and ``test_profile``; writes ``tests``
    (a `RunResult`).

    ``profiles`` are the operator's. A name they do not hold (a profile removed since the input
    was validated, or an event no schema checked) fails the tests without running anything.
    """
    name = state.get("test_profile")
    if not name:
        return {"tests": check_diff(state["diff"])}
    profile = profiles.get(name) if isinstance(name, str) else None
    if profile is None:
        result = _not_run(None, f"unknown test profile {name!r}: nothing was run", time.monotonic())
        result["profile"] = str(name)
        return {"tests": result}
    return {"tests": run_profile(name, profile, state["diff"])}
