"""The service as a child process: for notebooks, benchmarks and tests that kill it.

server = ServiceProcess({"HITL_DATABASE_URL": url}, Path("server.log")).start()
server.wait_ready()
key = server.create_api_key()   # for HITLClient(server.url, api_key=key)
...
server.terminate()   # or server.kill() for a SIGKILL
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    """``hitl serve`` in a subprocess with its own environment; output goes to a log file.

    ``env`` is the whole environment of the child (see `base_env`); the port is chosen here.
    ``command`` replaces ``python -m hitl.cli <args>`` (e.g. ``make run``, as a reader types it).
    """

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        *,
        cwd: Path | None = None,
        args: Sequence[str] = ("serve",),
        command: Sequence[str] | None = None,
    ) -> None:
        self.args = list(args)
        self.command = list(command) if command else [sys.executable, "-m", "hitl.cli", *args]
        self.port = free_port()
        self.env = {**env, "HITL_PORT": str(self.port), "HITL_HOST": "127.0.0.1"}
        self.cwd = cwd or Path.cwd()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, extra_env: dict[str, str] | None = None) -> ServiceProcess:
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env={**self.env, **(extra_env or {})},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"server not ready after {timeout}s:\n{self.log()}")

    def wait_exit(self, timeout: float = 60) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout)
        self._close_log()
        return code

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        self._close_log()

    def terminate(self, timeout: float = 60) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def create_api_key(self, name: str = "notebook", scopes: str = "*") -> str:
        """A new API key for this service's database, made by ``hitl apikey create`` with the
        service's own environment (so it works on the embedded Postgres too)."""
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "hitl.cli",
                "apikey",
                "create",
                "--name",
                name,
                "--scopes",
                scopes,
            ],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise AssertionError(f"hitl apikey create failed:\n{done.stdout}{done.stderr}")
        return done.stdout.strip().splitlines()[-1]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _close_log(self) -> None:
        if self._log:
            self._log.close()
            self._log = None


def base_env() -> dict[str, str]:
    """This environment without any HITL_* setting (so nothing leaks in from the caller)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("HITL_")}
