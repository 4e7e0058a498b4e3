"""prometheus-client's multiprocess mode, for the service processes of one host.

`hitl serve` and `hitl worker` call `use` (with ``Settings.shared_metrics_dir``) before any
metric exists. From then on each counter, histogram and gauge of the process lives in a small
memory-mapped file ``<type>_<pid>.db`` in the folder, and a scrape of any of them adds up the
files of all (`prometheus_client.multiprocess.MultiProcessCollector`). prometheus-client picks
the mode once per process (its value class), so it is the command's choice, not the app's: apps
built in one process (the tests) keep in-memory registries of their own.

The folder over time:

- every process holds a shared ``flock`` on ``<folder>/.lock`` while it lives (the kernel drops
  it when the process dies, even by SIGKILL);
- the first process to come when nobody holds it empties the folder: the figures of an earlier
  generation go, and every counter starts again from zero at once, which Prometheus reads as a
  counter reset;
- counters and histograms of a process that ended stay in the sums (a total does not drop
  because a worker stopped), until the folder is emptied;
- live gauges (``livesum``: runs and webhook attempts in progress) leave with their process: at
  exit (`prometheus_client.multiprocess.mark_process_dead`), or, when it ended without running
  its exit hooks (SIGKILL; the app process of ``--reload``, which ends with ``os._exit``), at the
  next scrape or start of another process, which finds the pid gone.

Pids mean something on one host only: a `hitl worker` elsewhere serves its own ``/metrics``
(``HITL_METRICS_PORT``) rather than share a network folder.
"""

from __future__ import annotations

import atexit
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil
from prometheus_client import multiprocess, values

ENV = "PROMETHEUS_MULTIPROC_DIR"
LOCK_FILE = ".lock"


@dataclass(frozen=True)
class _Share:
    path: Path
    pid: int
    lock: IO[str]  # kept open (and locked) for the life of the process


_share: _Share | None = None


def take_share(path: Path) -> IO[str]:
    """Lock ``path`` shared, emptying it first if no other process holds it; the open lock file
    (closing it, or the process ending, lets go)."""
    path.mkdir(parents=True, exist_ok=True)
    lock = open(path / LOCK_FILE, "a")  # held (and locked) until the process ends
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # others use it: keep their files
        forget_dead(path)
    else:  # alone: a new generation (nothing of ours is written yet, see the module docstring)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
    fcntl.flock(lock, fcntl.LOCK_SH)
    return lock


def forget_dead(path: Path) -> None:
    """Drop the live gauges of processes that died without saying so (SIGKILL, out of memory)."""
    for found in path.glob("gauge_live*_*.db"):
        pid = found.stem.rpartition("_")[2]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            multiprocess.mark_process_dead(int(pid), str(path))  # type: ignore[no-untyped-call]


def use(path: Path) -> None:
    """Write this process's metrics to files in ``path`` from now on (see the module docstring).

    Call it before any metric is created; a child process started later inherits the mode
    through the environment (the app process of ``hitl serve --reload``) and joins in `current`.
    """
    os.environ[ENV] = str(path.resolve())
    if not getattr(values.ValueClass, "_multiprocess", False):
        # prometheus-client read the environment when it was imported, before we set it.
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    _join(path.resolve())


def current() -> Path | None:
    """The folder this process's metrics live in, or None (in memory, a registry per app)."""
    found = os.environ.get(ENV)
    if not found or not getattr(values.ValueClass, "_multiprocess", False):
        return None
    path = Path(found)
    if _share is None or _share.pid != os.getpid():
        _join(path)
    return path


def _join(path: Path) -> None:
    global _share
    if _share is not None and _share.pid == os.getpid() and _share.path == path:
        return
    lock = take_share(path)
    pid = os.getpid()
    atexit.register(multiprocess.mark_process_dead, pid, str(path))
    _share = _Share(path, pid, lock)
