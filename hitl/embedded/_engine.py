"""What the embedded engines share: the engine base class, the timeouts, the list of processes
using an engine, and the pid and file helpers that let a start adopt an engine a killed
process left running (see `hitl.embedded`)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, ClassVar

import psutil

_log = logging.getLogger("hitl.embedded")

# Generous: replaying a large AOF or WAL after a crash takes a while.
START_TIMEOUT = 120.0
POLL = 0.02


class Engine:
    """One engine for one data folder, held by `holders` blocks of this process."""

    kind: ClassVar[str]

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = ""
        self.holders = 0

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class Users:
    """The live processes using an engine: a JSON list of ``[pid, start time]``.

    The start time tells a user from a later process that got its pid. Callers hold the folder
    lock; dead users (a SIGKILLed service) are dropped at every read.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def add_self(self) -> None:
        users = self._live()
        if _me() not in users:
            users.append(_me())
        write_atomically(self.path, json.dumps(users))

    def remove_self(self) -> list[int]:
        """Unregister this process; return the pids of the users still alive."""
        users = [user for user in self._live() if user != _me()]
        write_atomically(self.path, json.dumps(users))
        return [pid for pid, _ in users]

    def _live(self) -> list[list[Any]]:
        try:
            users = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return []
        return [[pid, started] for pid, started in users if _started_at(pid) == started]


def _me() -> list[Any]:
    return [os.getpid(), _started_at(os.getpid())]


# --- processes and files ---------------------------------------------------------------------


def _started_at(pid: int) -> float | None:
    try:
        return round(psutil.Process(pid).create_time(), 2)
    except psutil.Error:
        return None


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True


def runs_in(pid: int, name: str, directory: Path) -> bool:
    """Whether ``pid`` is a live ``name`` process working in ``directory``.

    Both engines chdir into their data folder, which tells our engine from an unrelated process
    that inherited the pid, even when the folder is reached through another path.
    """
    try:
        proc = psutil.Process(pid)
        return (
            proc.status() != psutil.STATUS_ZOMBIE
            and proc.name() == name
            and os.path.samefile(proc.cwd(), directory)
        )
    except (psutil.Error, OSError):
        return False


def processes_in(directory: Path, name: str) -> list[psutil.Process]:
    """The live ``name`` processes working in ``directory``."""
    return [
        proc
        for proc in psutil.process_iter(["name"])
        if proc.info["name"] == name and runs_in(proc.pid, name, directory)
    ]


def terminate(pid: int, *, timeout: float) -> None:
    """SIGTERM, then SIGKILL if it is still there after ``timeout`` seconds."""
    try:
        proc = psutil.Process(pid)
        proc.terminate()
    except psutil.NoSuchProcess:
        return
    if _wait_gone(proc, timeout):
        return
    _log.warning("pid %d did not stop within %.0fs; killing it", pid, timeout)
    with contextlib.suppress(psutil.NoSuchProcess):
        proc.kill()
    _wait_gone(proc, 5.0)


def _wait_gone(proc: psutil.Process, timeout: float) -> bool:
    """Wait until the process is gone; a zombie counts, its parent may never reap it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL)


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
